//go:build linux

package gateway

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgegw/edgegw/edge"
)

// linuxBoot is the kernel's boot id and CLOCK_BOOTTIME (monotonic, counts
// suspend, starts at boot).
type linuxBoot struct{ id string }

func (b linuxBoot) Boot() (string, time.Duration) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return b.id, 0
	}
	return b.id, time.Duration(ts.Nano())
}

// platformBoot reads /proc/sys/kernel/random/boot_id once; without it (a
// restricted container) it falls back to an id made at process start.
func platformBoot(c edge.Clock) edge.BootSource {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if id := strings.TrimSpace(string(b)); err == nil && id != "" {
		return linuxBoot{id: id}
	}
	return newProcessBoot(c)
}
