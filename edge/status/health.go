package status

import (
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Check is one kind of finding of Evaluate.
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
	// CheckCentral: the uplink has been unreachable, rejected or stalled
	// for longer than Thresholds.MaxCentralDown.
	CheckCentral
	// CheckClock: the wall clock is not trusted (timestamps are flagged).
	CheckClock
	// CheckAlertCritical: a critical alert fires and nobody acknowledged it.
	CheckAlertCritical
	// CheckAlertFiring: another alert is active (not critical, or
	// acknowledged). Listed, but the gateway itself is not unhealthy.
	CheckAlertFiring
)

var checkNames = map[Check]string{
	CheckDeviceOffline: "device_offline", CheckBacklogOld: "backlog_old", CheckStoreNearCap: "store_near_cap",
	CheckNotReady: "not_ready", CheckDiskFull: "disk_full", CheckDiskLow: "disk_low", CheckCentral: "central",
	CheckClock: "clock", CheckAlertCritical: "alert_critical", CheckAlertFiring: "alert_active",
}

// String is the check's name in `edgegw status --json`.
func (c Check) String() string {
	if n, ok := checkNames[c]; ok {
		return n
	}
	return fmt.Sprintf("check_%d", int(c))
}

// Level is how much a finding weighs.
type Level int

const (
	// LevelInfo is listed but leaves the gateway healthy.
	LevelInfo Level = iota
	// LevelDegraded: the gateway works but a part of it does not.
	LevelDegraded
	// LevelCritical: a critical alert fires unacknowledged.
	LevelCritical
)

// Level returns the weight of a finding of this check.
func (c Check) Level() Level {
	switch c {
	case CheckAlertCritical:
		return LevelCritical
	case CheckAlertFiring, CheckClock:
		// An untrusted clock is listed (and bannered on the page) but
		// does not degrade the verdict: events are still stored and
		// ordered, and boxes without NTP would never read healthy.
		return LevelInfo
	}
	return LevelDegraded
}

// Exit codes of `edgegw status`: one per verdict, documented in its help
// and docs/install.md.
const (
	ExitHealthy    = 0
	ExitNotRunning = 3
	ExitDegraded   = 4
	ExitCritical   = 5
)

// Verdict sums up the findings: the exit code of `edgegw status` and the
// word its summary prints (OK, DEGRADED, CRITICAL). Critical alerts win
// over a degraded gateway: they are what a technician must see first.
func Verdict(ps []Problem) (code int, word string) {
	lvl := LevelInfo
	for _, p := range ps {
		lvl = max(lvl, p.Check.Level())
	}
	switch lvl {
	case LevelCritical:
		return ExitCritical, "CRITICAL"
	case LevelDegraded:
		return ExitDegraded, "DEGRADED"
	}
	return ExitHealthy, "OK"
}

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
	// MaxCentralDown: the uplink may be unreachable, rejected or stalled
	// this long before it counts. 0: at once.
	MaxCentralDown time.Duration
}

// Evaluate lists what is unhealthy in s, in a fixed order: not ready,
// devices offline, old backlog, store near its cap. It uses the gateway's
// own clock (s.Now) so a technician's laptop clock does not matter.
func Evaluate(s *Snapshot, th Thresholds) []Problem {
	var ps []Problem
	now := s.Now
	if now.IsZero() {
		now = edge.SystemClock{}.Now()
	}
	// Alerts first, critical unacknowledged ones at the top.
	var other []Problem
	for _, a := range s.Alerts {
		if a.State == edge.AlertResolved {
			continue
		}
		text := fmt.Sprintf("alert %s %s: %s (%s, since %s ago)", a.Severity, a.State, a.Message, a.Device,
			now.Sub(a.Since).Round(time.Second))
		if a.Severity == "critical" && a.State == edge.AlertFiring {
			ps = append(ps, Problem{CheckAlertCritical, text})
		} else {
			other = append(other, Problem{CheckAlertFiring, text})
		}
	}
	ps = append(ps, other...)
	if !s.Ready {
		ps = append(ps, Problem{CheckNotReady, "gateway not ready (store or drivers not started)"})
	}
	for _, p := range s.Problems {
		ps = append(ps, Problem{CheckNotReady, p})
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
	if y := s.Sync; y.Enabled {
		switch y.State {
		case edge.SyncUnreachable, edge.SyncRejecting, edge.SyncStalled:
			if since := now.Sub(y.StateSince); y.StateSince.IsZero() || since >= th.MaxCentralDown {
				what := map[string]string{
					edge.SyncUnreachable: "unreachable", edge.SyncRejecting: "rejecting batches (429/5xx)",
					edge.SyncStalled: "stalled (answers, backlog not moving)"}[y.State]
				text := "central " + what
				if !y.StateSince.IsZero() {
					text += " for " + since.Round(time.Second).String()
				}
				if y.LastError != "" {
					text += ": " + y.LastError
				}
				ps = append(ps, Problem{CheckCentral, text + fmt.Sprintf("; %d events kept for it", y.BacklogEvents)})
			}
		}
	}
	if !s.Clock.Trusted {
		ps = append(ps, Problem{CheckClock, "clock not trusted: timestamps are flagged (check NTP and the RTC battery; order is kept by sequence)"})
	}
	return ps
}
