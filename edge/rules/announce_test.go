package rules

import (
	"context"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// announceSet has the observed-door rule that honours announcements and
// one that does not.
func announceSet(t testing.TB) (*Set, []edge.Device) {
	t.Helper()
	rules := []config.Rule{{
		Name:     "door",
		Match:    config.RuleMatch{Tags: []string{"observe"}, Points: []string{"door"}},
		When:     `event.text == "open" && !announced(event.device)`,
		Severity: "critical",
		Message:  "door {{.Device.ID}} open",
	}, {
		Name:     "door-log",
		Match:    config.RuleMatch{Tags: []string{"observe"}, Points: []string{"door"}},
		When:     `event.text == "open"`,
		Severity: "info",
		Message:  "door {{.Device.ID}} opened",
	}}
	set, err := Compile(rules, "UTC", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set, []edge.Device{{ID: "d1", Tags: []string{"observe"}}, {ID: "d2", Tags: []string{"observe"}}}
}

func fired(ch []Change) map[string]int {
	m := map[string]int{}
	for _, c := range ch {
		if c.Event.Alert != nil && c.Event.Alert.State == edge.AlertFiring {
			m[c.Event.Alert.Rule]++
		}
	}
	return m
}

// TestAnnouncedCore: inside the window the door opening is recorded (the
// rule without announced() fires) but the observed-door rule does not;
// after the window (and for another door) it does.
func TestAnnouncedCore(t *testing.T) {
	set, devs := announceSet(t)
	c := NewCore(set, devs, nil)
	c.Start(t0)
	seq := uint64(0)
	ev := func(e edge.Event, at time.Time) []Change {
		seq++
		e.Seq, e.Time = seq, at
		var out []Change
		out = append(out, c.Tick(at)...)
		return append(out, c.Event(&e, at)...)
	}
	ev(edge.Announcement("d1", 2*time.Hour, "local:cli", "doctor's visit"), t0)
	for _, tc := range []struct {
		at        time.Duration
		dev       string
		door, log int
	}{
		{10 * time.Minute, "d1", 0, 1}, // announced
		{20 * time.Minute, "d2", 1, 1}, // another door
		{119 * time.Minute, "d1", 0, 1},
		{121 * time.Minute, "d1", 1, 1}, // the window is over
	} {
		at := t0.Add(tc.at)
		got := fired(ev(edge.StateChange(tc.dev, "door", "open", 1), at))
		ev(edge.StateChange(tc.dev, "door", "closed", 0), at.Add(time.Second))
		if got["door"] != tc.door || got["door-log"] != tc.log {
			t.Fatalf("%s at +%v: got %v, want door %d, door-log %d", tc.dev, tc.at, got, tc.door, tc.log)
		}
	}
	if a := c.Announcements(); len(a) != 0 {
		t.Fatalf("announcements after the window: %+v", a)
	}
	// Withdrawn: a zero window.
	ev(edge.Announcement("d2", time.Hour, "central:op7", "delivery"), t0.Add(3*time.Hour))
	ev(edge.Announcement("d2", 0, "central:op7", ""), t0.Add(3*time.Hour+time.Minute))
	if got := fired(ev(edge.StateChange("d2", "door", "open", 1), t0.Add(3*time.Hour+2*time.Minute))); got["door"] != 1 {
		t.Fatalf("after the withdrawal: got %v, want the alert", got)
	}
}

// TestAnnouncedEngineRestart: an announcement made through the engine is
// an event in the log; after a restart inside its window (state from the
// state store, or rebuilt from the log when the state is lost) the door
// still does not alert, and after the window on the fake clock it does.
func TestAnnouncedEngineRestart(t *testing.T) {
	for _, lose := range []bool{false, true} {
		name := "state kept"
		if lose {
			name = "state lost: rebuilt from the log"
		}
		t.Run(name, func(t *testing.T) {
			set, devs := announceSet(t)
			clk := fakeclock.New(t0)
			m := newMemLog()
			r1 := startEngine(t, Options{Set: set, Devices: devs, Log: m, State: m, Clock: clk})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r1.e.Announce(ctx, "d1", 2*time.Hour, "local:cli", "doctor's visit"); err != nil {
				t.Fatal(err)
			}
			if a := r1.e.Announcements(); len(a) != 1 || a[0].Device != "d1" || a[0].Note != "doctor's visit" || !a[0].Until.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("announcements %+v", a)
			}
			r1.stop()
			if lose {
				for k := range m.state {
					delete(m.state, k)
				}
				m.SetCursor(edge.CursorRules, 1)
				// The store stamps events with the gateway's clock (the
				// memLog with the wall clock).
				m.evs[0].Time = t0
			}
			if len(m.evs) != 1 || m.evs[0].Kind != edge.KindAnnounce || m.evs[0].AnnouncedFor() != 2*time.Hour {
				t.Fatalf("log %+v, want the announcement", m.evs)
			}

			clk.Advance(time.Hour) // restart inside the window
			r2 := startEngine(t, Options{Set: set, Devices: devs, Log: m, State: m, Clock: clk})
			waitFor(t, r2.e, "announcement loaded", func() bool { return len(r2.e.Announcements()) == 1 })
			open := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
			waitFor(t, r2.e, "open evaluated", evaluated(r2.e, open.Seq))
			waitFor(t, r2.e, "door-log alert", func() bool { return len(alerts(t, m)) == 1 })
			if a := alerts(t, m); a[0].Alert.Rule != "door-log" {
				t.Fatalf("inside the window: %+v", a[0].Alert)
			}
			closed := appendEv(t, m, edge.StateChange("d1", "door", "closed", 0))
			waitFor(t, r2.e, "closed evaluated", evaluated(r2.e, closed.Seq))

			clk.Advance(61 * time.Minute) // the window ends
			advanceUntil(t, r2.e, clk, "window expired", func() bool { return len(r2.e.Announcements()) == 0 })
			again := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
			waitFor(t, r2.e, "door alert", func() bool {
				for _, a := range alerts(t, m) {
					if a.Alert.Rule == "door" && a.Alert.State == edge.AlertFiring {
						return true
					}
				}
				return false
			})
			waitFor(t, r2.e, "evaluated", evaluated(r2.e, again.Seq))
		})
	}
}

func TestAnnounceRefused(t *testing.T) {
	set, devs := announceSet(t)
	m := newMemLog()
	r := startEngine(t, Options{Set: set, Devices: devs, Log: m, State: m, Clock: fakeclock.New(t0)})
	ctx := context.Background()
	for _, d := range []time.Duration{-time.Second, edge.MaxAnnounce + time.Second} {
		if err := r.e.Announce(ctx, "d1", d, "t", ""); err == nil {
			t.Fatalf("window %v accepted", d)
		}
	}
	if err := r.e.Announce(ctx, "", time.Hour, "t", ""); err == nil {
		t.Fatal("no device accepted")
	}
	if err := r.e.Announce(ctx, "d1", time.Hour, "t", string(make([]byte, 300))); err == nil {
		t.Fatal("an overlong note accepted")
	}
	if err := r.e.Announce(ctx, "d1", time.Hour, "t", "ok"); err != nil {
		t.Fatal(err)
	}
}
