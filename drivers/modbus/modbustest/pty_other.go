//go:build !unix

package modbustest

import "os"

// OpenPTY is not available on this OS.
func OpenPTY() (far *os.File, path string, closeFn func(), err error) {
	return nil, "", nil, ErrNoPTY
}
