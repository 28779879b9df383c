//go:build unix

package modbustest

import (
	"os"

	"github.com/creack/pty"
)

// OpenPTY opens a pty pair: path is the near end, for serial.Open; far is
// the slave's end.
func OpenPTY() (far *os.File, path string, closeFn func(), err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, "", nil, err
	}
	// Hold the tty open so the line stays up between the master's opens.
	return m, s.Name(), func() { m.Close(); s.Close() }, nil
}
