package serialport

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// maxLockFile bounds what is read of a lock file: a well-formed one is
// eleven bytes; anything past this is not a lock file of the convention.
const maxLockFile = 128

// LockName is the lock file's name for a device, in the UUCP convention:
// LCK.. and the device's base name (LCK..ttyUSB0). Symlinks such as
// /dev/serial/by-id/... are resolved first (on Linux and Unix), so every
// name of one adapter shares one lock.
func LockName(dev string) string { return "LCK.." + filepath.Base(dev) }

// formatLock is the content of a lock file: the pid in ASCII, right-aligned
// in ten characters, and a newline (the HDB UUCP format that lockdev,
// minicom and picocom write).
func formatLock(pid int) []byte { return fmt.Appendf(nil, "%10d\n", pid) }

var (
	errLockEmpty = errors.New("empty lock file")
	errLockLong  = errors.New("lock file too long")
	errLockPID   = errors.New("lock file holds no pid")
)

// parseLockPID reads the pid of a lock file's content: ASCII decimal,
// optionally padded with spaces, optionally ending in a newline. Anything
// else (binary, a negative or zero pid, more than ten digits, more than
// maxLockFile bytes) is an error: such a file is treated as stale once it
// is a few seconds old.
func parseLockPID(b []byte) (int, error) {
	if len(b) > maxLockFile {
		return 0, errLockLong
	}
	s := strings.Trim(string(b), " \t\r\n\x00")
	if s == "" {
		return 0, errLockEmpty
	}
	if len(s) > 10 {
		return 0, fmt.Errorf("%w: %d characters", errLockPID, len(s))
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", errLockPID, s)
		}
		n = n*10 + int(c-'0')
	}
	if n <= 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("%w: pid %d out of range", errLockPID, n)
	}
	return n, nil
}

// cleanName makes a process name from /proc safe to print: printable
// ASCII only, at most 32 characters.
func cleanName(b []byte) string {
	s := strings.TrimSpace(string(b))
	var out strings.Builder
	for i := 0; i < len(s) && out.Len() < 32; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			out.WriteByte(c)
		} else {
			out.WriteByte('?')
		}
	}
	return out.String()
}
