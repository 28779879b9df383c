//go:build !linux

package store

import (
	"errors"
	"os"
)

var errNoFallocate = errors.New("fallocate not supported")

func fallocate(*os.File, int64) error { return errNoFallocate }
