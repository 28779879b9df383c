//go:build linux

package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoFallocate = errors.New("fallocate not supported")

func fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return errNoFallocate
		}
		return err
	}
}
