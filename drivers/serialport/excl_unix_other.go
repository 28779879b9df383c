//go:build unix && !linux

package serialport

// getExclusive: only Linux can ask (TIOCGEXCL); elsewhere open(2) of a
// device in exclusive mode fails with EBUSY, root or not.
func getExclusive(fd int) (bool, error) { return false, nil }

// openedBy: no /proc to ask.
func openedBy(dev string) int { return 0 }
