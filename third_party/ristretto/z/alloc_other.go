//go:build !linux || js

package z

import "os"

// allocate sets the size of a new or growing file. Only Linux reserves the
// blocks (alloc_linux.go); on Windows, mapping a file extends it with
// allocated space, so a full disk fails the mapping, not a later write.
func allocate(fd *os.File, size int64) error { return fd.Truncate(size) }

// SetNoSpaceHandler is a no-op here: allocations are only checked on Linux
// (alloc_linux.go).
func SetNoSpaceHandler(func(name string, need int64) bool) {}
