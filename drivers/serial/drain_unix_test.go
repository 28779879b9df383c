//go:build unix

package serial

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitRead waits until the near end of a pty has read everything sent to
// it (its input queue, TIOCINQ, is empty), so that what the test sends next
// arrives in another read. The port is in exclusive mode: only root can
// look; other users skip the wait (the split then is only likely).
func waitRead(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Logf("cannot watch %s's input queue: %v", path, err)
		return
	}
	defer unix.Close(fd)
	eventually(t, 3*time.Second, "the driver to read what was sent", func() bool {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		return err != nil || n == 0
	})
}
