//go:build unix

package store

import (
	"io/fs"
	"syscall"
)

// fileBytes is the space a file takes on disk: Badger preallocates its
// value-log and write-ahead files (sparse), so their length overstates it.
func fileBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
