package status

import (
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Check is one kind of unhealthy state; `edgegw status` maps each to its
// own exit code.
type Check int

const (
	CheckDeviceOffline Check = iota + 1
	CheckBacklogOld
	CheckStoreNearCap
	CheckNotReady
	// CheckDiskFull: the store refuses appends because its disk is full
	// (health_disk.go). A degraded state: the gateway serves status and
	// syncs, and takes appends again once space returns.
	CheckDiskFull
	// CheckDiskLow: the free space is under the store's reserve; it evicts
	// its oldest events to keep it.
	CheckDiskLow
)

// Problem is one finding of Evaluate.
type Problem struct {
	Check Check
	Text  string
}

// Thresholds say when the gateway counts as unhealthy.
type Thresholds struct {
	// MaxBacklogAge: the oldest unsynced event may be this old. 0: no check.
	MaxBacklogAge time.Duration
	// MaxStorePct: the store may fill this much of its cap. 0: no check.
	MaxStorePct float64
}

// Evaluate lists what is unhealthy in s, in a fixed order: not ready,
// devices offline, old backlog, store near its cap. It uses the gateway's
// own clock (s.Now) so a technician's laptop clock does not matter.
func Evaluate(s *Snapshot, th Thresholds) []Problem {
	var ps []Problem
	if !s.Ready {
		ps = append(ps, Problem{CheckNotReady, "gateway not ready (store or drivers not started)"})
	}
	for _, p := range s.Problems {
		ps = append(ps, Problem{CheckNotReady, p})
	}
	now := s.Now
	if now.IsZero() {
		now = edge.SystemClock{}.Now()
	}
	for _, d := range s.Devices {
		if !d.Online {
			why := ""
			if d.Reason != "" {
				why = " (" + d.Reason + ")"
			}
			since := ""
			if !d.Since.IsZero() {
				since = " for " + now.Sub(d.Since).Round(time.Second).String()
			}
			ps = append(ps, Problem{CheckDeviceOffline, fmt.Sprintf("device %s offline%s%s", d.ID, since, why)})
		}
	}
	if th.MaxBacklogAge > 0 && s.Sync.BacklogEvents > 0 && !s.Sync.OldestUnsynced.IsZero() {
		if age := now.Sub(s.Sync.OldestUnsynced); age > th.MaxBacklogAge {
			ps = append(ps, Problem{CheckBacklogOld, fmt.Sprintf("sync backlog: %d events, oldest unsynced %s old (limit %s)",
				s.Sync.BacklogEvents, age.Round(time.Second), th.MaxBacklogAge)})
		}
	}
	if th.MaxStorePct > 0 && s.Store.CapBytes > 0 {
		if pct := 100 * float64(s.Store.Bytes) / float64(s.Store.CapBytes); pct >= th.MaxStorePct {
			ps = append(ps, Problem{CheckStoreNearCap, fmt.Sprintf("store at %.1f%% of its cap (limit %.0f%%)", pct, th.MaxStorePct)})
		}
	}
	ps = append(ps, diskProblems(&s.Store)...)
	return ps
}
