package status

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

// WriteSummary writes the snapshot as the few lines a technician reads
// (what `edgegw status` prints): health and its problems, every device,
// the alerts, sync, store, disk and clock. now is used when the snapshot
// carries no time of its own.
func WriteSummary(w io.Writer, s *Snapshot, probs []Problem, now time.Time) error {
	return WriteSummaryIn(w, s, probs, now, i18n.EN)
}

// WriteSummaryIn is WriteSummary with the verdict and the findings in
// lang (the CLI follows LANG); the figures below them stay as they are.
func WriteSummaryIn(w io.Writer, s *Snapshot, probs []Problem, now time.Time, lang i18n.Lang) error {
	bw := bufio.NewWriter(w)
	if !s.Now.IsZero() {
		now = s.Now
	}
	site := ""
	if s.Site != "" && s.Site != s.GatewayID {
		site = " (" + s.Site + ")"
	}
	fmt.Fprintf(bw, "gateway %s%s, version %s, up %s\n", s.GatewayID, site, s.Version, s.Uptime.D().Round(time.Second))
	_, word := Verdict(probs)
	serious := 0
	for _, p := range probs {
		if p.Check.Level() > LevelInfo {
			serious++
		}
	}
	health := i18n.T(lang, "status.health", map[string]any{"Verdict": i18n.T(lang, "status.verdict."+word, nil)})
	if serious == 0 {
		fmt.Fprintf(bw, "%s\n", health)
	} else {
		fmt.Fprintf(bw, "%s (%d)\n", health, serious)
	}
	for _, p := range probs {
		mark := map[Level]string{LevelCritical: "!!", LevelDegraded: "! ", LevelInfo: "- "}[p.Check.Level()]
		fmt.Fprintf(bw, "  %s %s\n", mark, p.In(lang))
	}
	fmt.Fprintf(bw, "\n%s\n", i18n.T(lang, "status.alerts", map[string]any{"N": len(s.Alerts)}))
	for _, a := range sortedAlerts(s.Alerts) {
		by := ""
		if a.By != "" {
			by = " by " + a.By
		}
		fmt.Fprintf(bw, "  %-8s %s (%s, %s, %s%s)\n", a.Severity, a.Message, a.Device, ago(now, a.Since), a.State, by)
	}
	fmt.Fprintf(bw, "\n%s\n", i18n.T(lang, "status.devices", map[string]any{"Online": s.OnlineCount(), "Total": len(s.Devices)}))
	for _, d := range s.Devices {
		state := "online"
		if !d.Online {
			state = "OFFLINE"
			if d.Reason != "" {
				state += " (" + d.Reason + ")"
			}
		}
		last := ""
		if d.LastPoint != "" {
			v := d.LastText
			if v == "" {
				v = strings.TrimSpace(fmt.Sprintf("%g %s", d.LastValue, d.LastUnit))
			}
			last = d.LastPoint + "=" + v
		}
		fmt.Fprintf(bw, "  %-20s %-10s since %-12s %-18s seen %-12s frames %d errors %d garbage %d",
			d.ID, state, ago(now, d.Since), last, ago(now, d.LastSeen), d.Stats.Frames, d.Stats.Errors, d.Stats.Garbage)
		if len(d.Stats.ErrorsByCause) > 0 {
			causes := make([]string, 0, len(d.Stats.ErrorsByCause))
			for _, c := range slices.Sorted(maps.Keys(d.Stats.ErrorsByCause)) {
				causes = append(causes, fmt.Sprintf("%s %d", c, d.Stats.ErrorsByCause[c]))
			}
			fmt.Fprintf(bw, " (%s)", strings.Join(causes, ", "))
		}
		if d.Stats.LastError != "" {
			fmt.Fprintf(bw, " last error: %s", d.Stats.LastError)
		}
		fmt.Fprintln(bw)
	}
	y := s.Sync
	fmt.Fprintln(bw)
	if !y.Enabled {
		fmt.Fprintln(bw, i18n.T(lang, "status.sync_off", nil))
	} else {
		reach := "reachable"
		if !y.Reachable {
			reach = "UNREACHABLE"
		}
		switch y.State {
		case edge.SyncOK:
			reach = "ok"
		case edge.SyncConnecting:
			reach = "connecting"
		case edge.SyncUnreachable:
			reach = "UNREACHABLE"
		case edge.SyncRejecting:
			reach = "REJECTING (429/5xx)"
		case edge.SyncStalled:
			reach = "STALLED (answers, backlog not moving)"
		case edge.SyncPaused:
			reach = "paused"
		}
		if y.State != "" && !y.StateSince.IsZero() {
			reach += ", since " + ago(now, y.StateSince)
		}
		oldest := "none"
		if !y.OldestUnsynced.IsZero() {
			oldest = ago(now, y.OldestUnsynced)
		}
		fmt.Fprintln(bw, i18n.T(lang, "status.sync", map[string]any{"Central": reach, "Backlog": y.BacklogEvents,
			"Bytes": humanBytes(y.BacklogBytes), "Oldest": oldest, "LastSuccess": ago(now, y.LastSuccess), "OK": y.Successes, "Failed": y.Failures}))
		if y.LastError != "" {
			fmt.Fprintf(bw, "      last error %s: %s\n", ago(now, y.LastErrorAt), y.LastError)
		}
	}
	st := s.Store
	pct := 0.0
	if st.CapBytes > 0 {
		pct = 100 * float64(st.Bytes) / float64(st.CapBytes)
	}
	fmt.Fprintln(bw, i18n.T(lang, "status.store", map[string]any{"Bytes": humanBytes(st.Bytes), "Cap": humanBytes(st.CapBytes),
		"Pct": fmt.Sprintf("%.1f", pct), "Events": st.Events, "Evicted": st.Evicted, "Gaps": st.GapRecords}))
	if st.DiskTotal > 0 {
		state := "ok"
		switch {
		case st.ReadOnly:
			state = "FULL (store read-only)"
		case st.DiskFull:
			state = "FULL (appends refused)"
		case st.DiskFree+st.DiskHeld < st.DiskReserve:
			state = "LOW (evicting)"
		}
		fmt.Fprintln(bw, i18n.T(lang, "status.disk", map[string]any{"State": state, "Free": humanBytes(st.DiskFree), "Total": humanBytes(st.DiskTotal),
			"Reserve": humanBytes(st.DiskReserve), "Evicted": st.DiskEvicted, "Refused": st.Refused}))
	}
	clock := "trusted"
	if !s.Clock.Trusted {
		clock = "NOT trusted"
	}
	if s.Clock.SkewKnown {
		clock += fmt.Sprintf(", skew %+.1fs", float64(s.Clock.Skew))
	}
	if s.Clock.Jumps > 0 {
		clock += fmt.Sprintf(", %d jumps", s.Clock.Jumps)
	}
	if s.Clock.BeforeFloor {
		clock += ", before the last known good time " + s.Clock.Floor.UTC().Format(time.RFC3339)
	}
	fmt.Fprintln(bw, i18n.T(lang, "status.clock", map[string]any{"Clock": clock}))
	if len(s.Outputs) > 0 {
		fmt.Fprintf(bw, "outputs: %s\n", strings.Join(s.Outputs, ", "))
	}
	return bw.Flush()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String() + " ago"
	case d < 48*time.Hour:
		return d.Round(time.Minute).String() + " ago"
	}
	return fmt.Sprintf("%.1f days ago", d.Hours()/24)
}

func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// sortedAlerts puts firing critical alerts first, then the other firing
// ones, then the acknowledged; the oldest first within each.
func sortedAlerts(as []Alert) []Alert {
	rank := func(a Alert) int {
		switch {
		case a.State == edge.AlertFiring && a.Severity == "critical":
			return 0
		case a.State == edge.AlertFiring:
			return 1
		}
		return 2
	}
	out := slices.Clone(as)
	slices.SortStableFunc(out, func(a, b Alert) int {
		if r := rank(a) - rank(b); r != 0 {
			return r
		}
		return a.Since.Compare(b.Since)
	})
	return out
}
