//go:build linux && !js

package z

import "golang.org/x/sys/unix"

// dontNeed drops b's pages from the page tables. For a shared file mapping
// the data stays in the page cache (dirty pages included) and faults back
// in on the next access.
func dontNeed(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }
