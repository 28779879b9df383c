package status

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
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
	// Text is the finding in English (logs, --json, the default).
	Text string
	// Key and Data make Text in another language (In); a Data entry
	// named XKey holds the key of a word to translate first, given to
	// the template as X.
	Key  string
	Data map[string]any
	// Since is when the fault began, when known (for the page's banner).
	Since time.Time
	// Subject names what the finding is about: a device id, an alert id.
	Subject string
}

// finding makes a problem from a catalog message.
func finding(c Check, key string, data map[string]any) Problem {
	p := Problem{Check: c, Key: key, Data: data}
	p.Text = p.In(i18n.EN)
	return p
}

// In returns the finding in lang.
func (p Problem) In(lang i18n.Lang) string {
	if p.Key == "" {
		return p.Text
	}
	d := make(map[string]any, len(p.Data))
	for k, v := range p.Data {
		if name, ok := strings.CutSuffix(k, "Key"); ok {
			if key, ok := v.(string); ok {
				d[name] = i18n.T(lang, key, nil)
				continue
			}
		}
		d[k] = v
	}
	return i18n.T(lang, p.Key, d)
}

// Hint says what to check for a finding of this kind, in lang.
func (c Check) Hint(lang i18n.Lang) string { return i18n.T(lang, "hint."+c.String(), nil) }

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
		msg := a.Message
		if msg == "" {
			msg = a.Rule
		}
		p := finding(CheckAlertFiring, "finding.alert", map[string]any{
			"SeverityKey": "severity." + a.Severity, "StateKey": "state." + string(a.State),
			"Message": msg, "Device": a.Device, "Ago": now.Sub(a.Since).Round(time.Second).String()})
		p.Since, p.Subject = a.Since, a.ID
		if a.Severity == "critical" && a.State == edge.AlertFiring {
			p.Check = CheckAlertCritical
			ps = append(ps, p)
		} else {
			other = append(other, p)
		}
	}
	ps = append(ps, other...)
	if !s.Ready {
		ps = append(ps, finding(CheckNotReady, "finding.not_ready", nil))
	}
	for _, text := range s.Problems {
		ps = append(ps, Problem{Check: CheckNotReady, Text: text})
	}
	for _, d := range s.Devices {
		if !d.Online {
			data := map[string]any{"Device": d.ID, "Reason": d.Reason}
			if !d.Since.IsZero() {
				data["For"] = now.Sub(d.Since).Round(time.Second).String()
			}
			p := finding(CheckDeviceOffline, "finding.device_offline", data)
			p.Since, p.Subject = d.Since, d.ID
			ps = append(ps, p)
		}
	}
	if th.MaxBacklogAge > 0 && s.Sync.BacklogEvents > 0 && !s.Sync.OldestUnsynced.IsZero() {
		if age := now.Sub(s.Sync.OldestUnsynced); age > th.MaxBacklogAge {
			p := finding(CheckBacklogOld, "finding.backlog_old", map[string]any{"Events": s.Sync.BacklogEvents,
				"Age": age.Round(time.Second).String(), "Limit": th.MaxBacklogAge.String()})
			p.Since = s.Sync.OldestUnsynced
			ps = append(ps, p)
		}
	}
	if th.MaxStorePct > 0 && s.Store.CapBytes > 0 {
		if pct := 100 * float64(s.Store.Bytes) / float64(s.Store.CapBytes); pct >= th.MaxStorePct {
			ps = append(ps, finding(CheckStoreNearCap, "finding.store_near_cap", map[string]any{
				"Pct": fmt.Sprintf("%.1f", pct), "Limit": fmt.Sprintf("%.0f", th.MaxStorePct)}))
		}
	}
	ps = append(ps, diskProblems(&s.Store)...)
	if y := s.Sync; y.Enabled {
		switch y.State {
		case edge.SyncUnreachable, edge.SyncRejecting, edge.SyncStalled:
			if since := now.Sub(y.StateSince); y.StateSince.IsZero() || since >= th.MaxCentralDown {
				data := map[string]any{"WhatKey": "central." + y.State, "Error": y.LastError, "Backlog": y.BacklogEvents}
				if !y.StateSince.IsZero() {
					data["For"] = since.Round(time.Second).String()
				}
				p := finding(CheckCentral, "finding.central", data)
				p.Since = y.StateSince
				ps = append(ps, p)
			}
		}
	}
	if !s.Clock.Trusted {
		ps = append(ps, finding(CheckClock, "finding.clock", nil))
	}
	return ps
}
