//go:build windows

package store

import (
	"os"

	"golang.org/x/sys/windows"
)

// diskSpace returns the bytes the process may still write on dir's volume,
// and its size.
func diskSpace(dir string) (free, total int64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var avail, size, all uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &all); err != nil {
		return 0, 0, err
	}
	return int64(avail), int64(size), nil
}

// allocateFile makes a file of size bytes that really holds its blocks.
func allocateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	err = writeZeros(f, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errNoSpace is the filesystem's "disk full" error.
var errNoSpace error = windows.ERROR_DISK_FULL
