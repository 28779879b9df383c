package serialport

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// getExclusive reports whether the terminal of fd is in exclusive mode.
func getExclusive(fd int) (bool, error) {
	v, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
	return v != 0, err
}

// maxScan bounds the walk over /proc for the holder of a device.
const maxScan = 4096

// openedBy returns the pid of another process that has dev open, from
// /proc/*/fd (what this user may read of it), or 0.
func openedBy(dev string) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if n++; n > maxScan {
			return 0
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if t, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && t == dev {
				return pid
			}
		}
	}
	return 0
}
