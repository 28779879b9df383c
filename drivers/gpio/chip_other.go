//go:build !linux

package gpio

import "fmt"

// OpenChip fails on this OS: GPIO lines are read through the Linux GPIO
// character device. Use the modemlines driver (a serial port's CTS, DSR,
// DCD and RI) for dry contacts on Windows.
func OpenChip(name string) (Chip, error) {
	return nil, fmt.Errorf("open GPIO chip %q: %w", name, ErrNotSupported)
}
