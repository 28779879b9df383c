//go:build linux && !js

package z

import (
	"errors"
	"os"
	"sync/atomic"

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
	err = fallocate(fd, size)
	if errors.Is(err, unix.ENOSPC) {
		if h := noSpace.Load(); h != nil && (*h)(fd.Name(), size-fi.Size()) {
			err = fallocate(fd, size)
		}
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return fd.Truncate(size)
	}
	return err
}

func fallocate(fd *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(fd.Fd()), 0, 0, size)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

var noSpace atomic.Pointer[func(name string, need int64) bool]

// SetNoSpaceHandler sets f to be called when a file cannot be allocated for
// lack of space, with its name and the bytes it needs: f may free space
// (an application's reserve) and reports whether to try again. Badger
// cannot survive some of these failures (a memtable it cannot create ends
// the process), so the application keeps room for exactly this. Patched in
// by edgegw (PATCHED.md).
func SetNoSpaceHandler(f func(name string, need int64) bool) {
	if f == nil {
		noSpace.Store(nil)
		return
	}
	noSpace.Store(&f)
}
