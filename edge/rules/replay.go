package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
)

// ReadEvents parses JSON lines of edge.Event (blank lines and lines
// starting with # are skipped). Errors name the line.
func ReadEvents(r io.Reader) ([]edge.Event, error) {
	var evs []edge.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var ev edge.Event
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if ev.Kind == 0 {
			return nil, fmt.Errorf("line %d: missing kind", n)
		}
		if ev.Time.IsZero() {
			return nil, fmt.Errorf("line %d: missing ts", n)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %v", n+1, err)
	}
	return evs, nil
}

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// After keeps the virtual clock running this long after the last event,
	// so that timers (for, stale) still fire. Default: 0.
	After time.Duration
	// Logger gets the rule expression errors. Default: discard.
	Logger edge.Logger
}

// Replay runs events through the rules on a virtual clock and writes the
// trace: one line per alert change with its time, rule, device, state,
// message and actions, then a summary. Events are ordered by seq (those
// without one get their position). The virtual clock starts at the first
// event's ts and advances by the step from one event's ts to the next; a
// step back (the wall clock jumped back) counts as no time, the way the
// engine's monotonic time ignores it. Trace times are virtual times. A recorded "acknowledged" alert event is
// replayed as an acknowledgement; other alert events are ignored (the
// replay computes its own). The output is deterministic.
func Replay(set *Set, devices []edge.Device, events []edge.Event, w io.Writer, opt ReplayOptions) error {
	evs := append([]edge.Event(nil), events...)
	for i := range evs {
		if evs[i].Seq == 0 {
			evs[i].Seq = uint64(i + 1)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
	core := NewCore(set, devices, opt.Logger)
	bw := bufio.NewWriter(w)
	tz := set.tz
	var vnow time.Time
	var fired, resolved, acked int
	limiter := actions.Limiter{}
	print := func(chs []Change) {
		for _, ch := range chs {
			a := ch.Event.Alert
			switch a.State {
			case edge.AlertFiring:
				fired++
			case edge.AlertResolved:
				resolved++
			case edge.AlertAcknowledged:
				acked++
			}
			fmt.Fprintf(bw, "%s  %-12s %s  %s  %s  %q", ch.Event.Time.In(tz).Format("2006-01-02 15:04:05 MST"),
				a.State, a.Rule, ch.Event.Device, a.Severity, a.Message)
			if a.By != "" {
				fmt.Fprintf(bw, " by=%s", a.By)
			}
			fmt.Fprintf(bw, " id=%s", a.ID)
			if len(ch.Jobs) > 0 {
				ds := make([]string, len(ch.Jobs))
				for i := range ch.Jobs {
					ds[i] = ch.Jobs[i].Describe()
					if !limiter.Allow(ch.Jobs[i].Spec, ch.Jobs[i].Time) {
						ds[i] += "[rate-limited]"
					}
				}
				fmt.Fprintf(bw, " -> %s", strings.Join(ds, " "))
			}
			bw.WriteByte('\n')
		}
	}
	runTimers := func(until time.Time) {
		for i := 0; i < 1_000_000; i++ {
			d := core.NextDeadline()
			if d.IsZero() || d.After(until) {
				return
			}
			if d.Before(vnow) {
				d = vnow
			}
			vnow = d
			print(core.Tick(d))
			if n := core.NextDeadline(); !n.IsZero() && !n.After(d) {
				return // nothing more can happen before the next event
			}
		}
	}
	var prevTS time.Time
	for i := range evs {
		ev := &evs[i]
		t := ev.Time
		if i == 0 {
			vnow, prevTS = t, t
			core.Start(t)
		}
		// Elapsed time is the step between successive timestamps; a step
		// back (the wall clock jumped back) counts as no time.
		if d := t.Sub(prevTS); d > 0 {
			next := vnow.Add(d)
			runTimers(next)
			vnow = next
		}
		prevTS = t
		if ev.Kind == edge.KindAlert {
			if ev.Alert == nil || ev.Alert.State != edge.AlertAcknowledged {
				continue
			}
			if !core.IsActive(ev.Alert.ID) {
				fmt.Fprintf(bw, "%s  ack %s: %v\n", vnow.In(tz).Format("2006-01-02 15:04:05 MST"), ev.Alert.ID, ErrUnknownAlert)
				continue
			}
			// A recorded acknowledgement carries only the id; the core
			// fills rule and device from its own alert.
			ack, ok, err := core.AckEvent(ev.Alert.ID, ev.Alert.By, vnow)
			if err != nil || !ok {
				continue
			}
			ack.Seq, ack.Time = ev.Seq, vnow
			print(core.Event(&ack, vnow))
			continue
		}
		print(core.Event(ev, vnow))
	}
	if len(evs) > 0 && opt.After > 0 {
		runTimers(vnow.Add(opt.After))
	}
	st := core.Stats()
	fmt.Fprintf(bw, "# %d events, %d evaluations, %d fired, %d acknowledged, %d resolved, %d runtime errors\n",
		len(evs), st.Evaluations, fired, acked, resolved, st.RuntimeErrors)
	errs := core.RuntimeErrors()
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(bw, "# runtime errors in rule %s: %d\n", n, errs[n])
	}
	for _, a := range core.Active() {
		fmt.Fprintf(bw, "# active: %s %s %s since %s\n", a.ID, a.State, a.Severity, a.Since.In(tz).Format("2006-01-02 15:04:05 MST"))
	}
	return bw.Flush()
}
