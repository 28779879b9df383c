//go:build unix

package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// diskSpace returns the bytes an unprivileged process may still write on
// dir's filesystem, and its size.
func diskSpace(dir string) (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := int64(st.Bsize)
	return int64(st.Bavail) * bs, int64(st.Blocks) * bs, nil
}

// allocateFile makes a file of size bytes that really holds its blocks.
func allocateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	err = fallocate(f, size)
	if errors.Is(err, errNoFallocate) {
		err = writeZeros(f, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errNoSpace is the filesystem's "disk full" error.
var errNoSpace error = unix.ENOSPC
