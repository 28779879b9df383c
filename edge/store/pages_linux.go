//go:build linux

package store

import (
	"bytes"
	"os"
	"strconv"
)

// mappedResident reads the process's resident file-backed pages, in bytes
// (the third field of /proc/self/statm).
func mappedResident() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
