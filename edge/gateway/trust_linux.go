//go:build linux

package gateway

import (
	"golang.org/x/sys/unix"

	"github.com/edgegw/edgegw/edge"
)

// adjtimexTrust asks the kernel whether the clock is NTP-synchronised
// (STA_UNSYNC clear). Boxes without an RTC boot with an unsynced clock.
type adjtimexTrust struct{}

func (adjtimexTrust) ClockSynced() (bool, bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, false
	}
	if state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
		return false, true
	}
	return true, true
}

func platformTrust() edge.TrustSource { return adjtimexTrust{} }
