//go:build !linux

package store

// mappedResident cannot be read here; the pager does not run.
func mappedResident() (int64, bool) { return 0, false }
