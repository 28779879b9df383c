//go:build linux && !js

package z

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate sets the size of a new or growing file to size and reserves its
// blocks (fallocate), so that writes through a shared mapping of it can
// never fault for lack of space: on a full filesystem a sparse file made by
// ftruncate gets SIGBUS on the first write to a page that has no block,
// which kills the process; fallocate fails with ENOSPC instead, which the
// caller sees as an error. Filesystems without fallocate fall back to
// ftruncate. Patched into this copy of ristretto by edgegw (PATCHED.md).
func allocate(fd *os.File, size int64) error {
	fi, err := fd.Stat()
	if err != nil {
		return err
	}
	if size <= fi.Size() {
		return fd.Truncate(size)
	}
	for {
		err = unix.Fallocate(int(fd.Fd()), 0, 0, size)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return fd.Truncate(size)
	}
	return err
}
