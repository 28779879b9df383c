package rules

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// FuzzReadEvents: the events file of `edgegw rules test` is outside bytes.
// Parsing never panics, and whatever parses replays through the compound
// rules without panicking.
func FuzzReadEvents(f *testing.F) {
	for _, p := range []string{"testdata/compound/events.jsonl", "testdata/ack/events.jsonl", "testdata/stale/events.jsonl", "testdata/clockjump/events.jsonl"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ts":"2026-03-02T10:00:00Z","kind":"alert","alert":null}`))
	f.Add([]byte(`{"ts":"2026-03-02T10:00:00Z","kind":"reading","seq":18446744073709551615,"q":255}`))
	f.Add([]byte("# comment\n\n{\"ts\":\"0001-01-01T00:00:01Z\",\"kind\":\"status\"}"))
	set, devs, opt := loadFixture(f, "testdata/compound/rules.yaml")
	opt.After = time.Hour
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := ReadEvents(bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error does not name the line: %v", err)
			}
			return
		}
		if len(evs) > 200 {
			evs = evs[:200]
		}
		if err := Replay(set, devs, evs, io.Discard, opt); err != nil {
			t.Fatal(err)
		}
	})
}

// Random event streams through every golden rule set keep the alert
// invariants: one active alert per rule and device, each id fired once,
// every acknowledgement and resolution of an alert that is active.
func TestCoreInvariantsRandom(t *testing.T) {
	cases := []string{"for", "debounce", "cooldown", "count", "stale", "ack", "compound", "schedule"}
	for _, name := range cases {
		set, devs, _ := loadFixture(t, "testdata/"+name+"/rules.yaml")
		rng := rand.New(rand.NewPCG(uint64(len(name)), 3))
		core := NewCore(set, devs, nil)
		now := time.Date(2026, 3, 7, 5, 0, 0, 0, time.UTC)
		core.Start(now)
		active := map[string]string{} // rule\x00dev -> id
		fired := map[string]bool{}
		check := func(chs []Change) {
			for _, ch := range chs {
				a := ch.Event.Alert
				key := a.Rule + "\x00" + ch.Event.Device
				switch a.State {
				case edge.AlertFiring:
					if id, ok := active[key]; ok {
						t.Fatalf("%s: %s fired while %s is active", name, a.ID, id)
					}
					if fired[a.ID] {
						t.Fatalf("%s: %s fired twice", name, a.ID)
					}
					fired[a.ID], active[key] = true, a.ID
				case edge.AlertAcknowledged:
					if active[key] != a.ID {
						t.Fatalf("%s: ack of %s, active is %q", name, a.ID, active[key])
					}
				case edge.AlertResolved:
					if active[key] != a.ID {
						t.Fatalf("%s: resolve of %s, active is %q", name, a.ID, active[key])
					}
					delete(active, key)
				}
			}
		}
		points := []string{"door", "lid", "temp", "smoke", "level", "alarm", "battery"}
		texts := []string{"open", "closed", "FALL", "clear"}
		if name == "count" { // 5 in a minute needs a busy lid
			points, texts = []string{"lid"}, []string{"open", "closed"}
		}
		for i := 1; i <= 5000; i++ {
			step := time.Duration(rng.IntN(10_000)) * time.Millisecond
			if rng.IntN(100) == 0 {
				step = 20 * time.Minute // a quiet spell: stale timers fire
			}
			now = now.Add(step)
			if d := core.NextDeadline(); !d.IsZero() && !d.After(now) {
				check(core.Tick(now))
			}
			dev := devs[rng.IntN(len(devs))].ID
			ev := edge.Event{Seq: uint64(i), Time: now, Device: dev, Kind: edge.KindReading,
				Point: points[rng.IntN(len(points))], Value: float64(rng.IntN(100))}
			switch rng.IntN(10) {
			case 0, 1, 2, 3:
				ev.Kind, ev.Text = edge.KindState, texts[rng.IntN(len(texts))]
			case 4:
				on := rng.IntN(2) == 0
				ev.Kind, ev.Online = edge.KindStatus, &on
			case 5:
				if act := core.Active(); len(act) > 0 {
					chs, err := core.Ack(act[rng.IntN(len(act))].ID, "local:fuzz", now)
					if err != nil {
						t.Fatal(err)
					}
					check(chs)
				}
				continue
			}
			check(core.Event(&ev, now))
		}
		if got := len(core.Active()); got != len(active) {
			t.Errorf("%s: core has %d active, the changes say %d", name, got, len(active))
		}
		if len(fired) == 0 {
			t.Errorf("%s: nothing fired in 5000 random events", name)
		}
	}
}
