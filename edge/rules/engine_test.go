package rules

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

func doorSet(t testing.TB, forD time.Duration) (*Set, []edge.Device) {
	t.Helper()
	rules := []config.Rule{{
		Name:     "door",
		Match:    config.RuleMatch{Tags: []string{"observe"}, Points: []string{"door"}},
		When:     `event.text == "open"`,
		For:      config.Duration(forD),
		Severity: "critical",
		Message:  "door {{.Device.ID}} open",
	}}
	set, err := Compile(rules, "UTC", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set, []edge.Device{{ID: "d1", Location: "c/b/u/h1", Tags: []string{"observe"}}}
}

type running struct {
	e    *Engine
	stop func()
}

func startEngine(t testing.TB, o Options) *running {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r := &running{e: e}
	r.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("engine: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("engine did not stop")
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			r.stop()
		}
	})
	return r
}

// waitFor waits until cond holds, checking it again each time the engine
// reports a change (every condition these tests wait for follows one), for
// at most 10s.
func waitFor(t testing.TB, e *Engine, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, e, 10*time.Second, what, cond)
}

func waitWithin(t testing.TB, e *Engine, d time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		changed := e.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s: %+v", what, e.Stats())
		}
	}
}

// advanceUntil waits for cond, moving clk to its next deadline whenever
// cond is false and something waits on the clock: a wait the engine
// computed just before the test moved the clock ends that much later than
// the time the test meant, so one Advance is not enough to be sure the
// engine has seen it.
func advanceUntil(t testing.TB, e *Engine, clk *fakeclock.Clock, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		changed, moved := e.Changed(), clk.Changed()
		if cond() {
			return
		}
		if at, ok := clk.Next(); ok {
			clk.Set(at)
		}
		select {
		case <-changed:
		case <-moved:
		case <-timeout:
			t.Fatalf("timed out waiting for %s: %+v", what, e.Stats())
		}
	}
}

// parked waits until the engine waits on the clock again after clk was
// moved: every earlier timer of the engine is due by then, so one pending
// timer is the engine's new one, set after it processed the new time.
func parked(t testing.TB, clk *fakeclock.Clock) {
	t.Helper()
	if !clk.BlockUntil(1, 10*time.Second) {
		t.Fatal("the engine did not wait on the clock again")
	}
}

// alerts returns the alert changes in the log.
func alerts(t testing.TB, l edge.Log) []edge.Event {
	t.Helper()
	var out []edge.Event
	for from := uint64(1); ; {
		evs, err := l.ReadPriority(from, edge.PriorityAlert, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, ev := range evs {
			if ev.Kind == edge.KindAlert {
				out = append(out, ev)
			}
		}
		from = evs[len(evs)-1].Seq + 1
	}
}

func countState(evs []edge.Event, st edge.AlertState) int {
	n := 0
	for _, ev := range evs {
		if ev.Alert.State == st {
			n++
		}
	}
	return n
}

func appendEv(t testing.TB, l edge.Log, ev edge.Event) edge.Event {
	t.Helper()
	out, err := l.Append(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// evaluated reports whether the engine has evaluated the event seq.
func evaluated(e *Engine, seq uint64) func() bool {
	return func() bool { return e.Stats().Cursor > seq }
}

type logs interface {
	edge.Log
	edge.StateStore
}

// testRestartMidFor: a `for` timer started before a restart fires on time
// after it.
func testRestartMidFor(t *testing.T, open func() logs) {
	set, devs := doorSet(t, 30*time.Second)
	clk := fakeclock.New(t0)
	l := open()
	r1 := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	ev := appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r1.e, "event evaluated", evaluated(r1.e, ev.Seq))
	clk.Advance(20 * time.Second)
	r1.stop() // its last checkpoint records the engine time, 20s in
	if n := len(alerts(t, l)); n != 0 {
		t.Fatalf("got %d alerts before the for duration, want 0", n)
	}

	l = open() // the gateway restarts: a new store handle on the same data
	r2 := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	clk.Advance(9 * time.Second)
	parked(t, clk)
	if n := len(alerts(t, l)); n != 0 {
		t.Fatalf("got %d alerts 29s after the door opened, want 0", n)
	}
	clk.Advance(time.Second)
	waitFor(t, r2.e, "the for timer to fire after the restart", func() bool { return len(alerts(t, l)) > 0 })
	a := alerts(t, l)
	if len(a) != 1 || a[0].Alert.State != edge.AlertFiring {
		t.Fatalf("got %v, want one firing", a)
	}
	fired := a[0].Time
	if !fired.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("fired at %v, want %v (30s after the door opened)", fired, t0.Add(30*time.Second))
	}
	if want := "door/d1/" + uintStr(ev.Seq); a[0].Alert.ID != want {
		t.Errorf("alert id %q, want %q", a[0].Alert.ID, want)
	}
}

func uintStr(n uint64) string { return strconv.FormatUint(n, 10) }

// testRestartActiveAlert: an active alert is neither raised again nor
// forgotten across a restart.
func testRestartActiveAlert(t *testing.T, open func() logs) {
	set, devs := doorSet(t, 0)
	clk := fakeclock.New(t0)
	l := open()
	r1 := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r1.e, "alert", func() bool { return len(alerts(t, l)) == 1 })
	r1.stop()

	l = open()
	e2, err := New(Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if act := e2.Active(); len(act) != 1 || act[0].Device != "d1" || act[0].State != edge.AlertFiring {
		t.Fatalf("active after restart: %+v, want the door alert", act)
	}
	r2 := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	again := appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r2.e, "event evaluated", evaluated(r2.e, again.Seq))
	closed := appendEv(t, l, edge.StateChange("d1", "door", "closed", 0))
	waitFor(t, r2.e, "resolved", func() bool { return countState(alerts(t, l), edge.AlertResolved) == 1 })
	waitFor(t, r2.e, "closed evaluated", evaluated(r2.e, closed.Seq))
	a := alerts(t, l)
	if f, r := countState(a, edge.AlertFiring), countState(a, edge.AlertResolved); f != 1 || r != 1 {
		t.Errorf("got %d firing and %d resolved, want 1 and 1", f, r)
	}
	if a[0].Alert.ID != a[len(a)-1].Alert.ID {
		t.Errorf("resolved %q, want %q", a[len(a)-1].Alert.ID, a[0].Alert.ID)
	}
	if n := len(r2.e.Active()); n != 0 {
		t.Errorf("%d active alerts after resolve, want 0", n)
	}
}

// testCrashBeforeCursor: events stored just before a crash (the cursor did
// not move past them) are evaluated after it, and an alert appended just
// before the crash is adopted rather than raised twice.
func testCrashBeforeCursor(t *testing.T, open func() logs) {
	set, devs := doorSet(t, 0)
	clk := fakeclock.New(t0)
	l := open()
	// A crashed run: the door event and its alert are in the log, the
	// cursor and the rule state never moved.
	ev := appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	id := "door/d1/" + uintStr(ev.Seq)
	appendEv(t, l, edge.Event{Kind: edge.KindAlert, Device: "d1", Alert: &edge.Alert{ID: id, Rule: "door", State: edge.AlertFiring, Severity: "critical", Message: "door d1 open", Cause: ev.Seq}})
	// And an event of another device stored just before the crash.
	devs = append(devs, edge.Device{ID: "d2", Tags: []string{"observe"}})
	ev2 := appendEv(t, l, edge.StateChange("d2", "door", "open", 1))

	r := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	waitFor(t, r.e, "events evaluated", evaluated(r.e, ev2.Seq+1))
	a := alerts(t, l)
	if n := countState(a, edge.AlertFiring); n != 2 {
		t.Fatalf("got %d firing alerts, want 2 (d1 adopted, d2 new): %+v", n, a)
	}
	if a[1].Alert.ID != "door/d2/"+uintStr(ev2.Seq) {
		t.Errorf("second alert %q, want d2's", a[1].Alert.ID)
	}
	act := r.e.Active()
	if len(act) != 2 || (act[0].ID != id && act[1].ID != id) {
		t.Errorf("active %+v, want %s among them", act, id)
	}
}

func TestRestartMidForMem(t *testing.T) {
	m := newMemLog()
	testRestartMidFor(t, func() logs { return m })
}

func TestRestartActiveAlertMem(t *testing.T) {
	m := newMemLog()
	testRestartActiveAlert(t, func() logs { return m })
}

func TestCrashBeforeCursorMem(t *testing.T) {
	m := newMemLog()
	testCrashBeforeCursor(t, func() logs { return m })
}

func TestEngineAck(t *testing.T) {
	set, devs := doorSet(t, 0)
	clk := fakeclock.New(t0)
	l := newMemLog()
	r := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r.e, "alert", func() bool { return len(r.e.Active()) == 1 })
	id := r.e.Active()[0].ID
	if err := r.e.Ack("nope", "local:x"); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack unknown: got %v, want ErrUnknownAlert", err)
	}
	if err := r.e.Ack(id, "local:tech"); err != nil {
		t.Fatal(err)
	}
	a := alerts(t, l)
	if got := a[len(a)-1].Alert; got.State != edge.AlertAcknowledged || got.By != "local:tech" || got.ID != id {
		t.Errorf("last alert change %+v, want acknowledged by local:tech", got)
	}
	if act := r.e.Active(); len(act) != 1 || act[0].State != edge.AlertAcknowledged {
		t.Errorf("active %+v, want acknowledged", act)
	}
}

// An append that fails is retried; the cursor does not move until it
// succeeds, and the alert is appended once.
func TestEngineAppendRetry(t *testing.T) {
	set, devs := doorSet(t, 0)
	clk := fakeclock.New(t0)
	l := newMemLog()
	ev := appendEv(t, l, edge.StateChange("d1", "door", "open", 1))
	l.mu.Lock()
	l.failApp = 3
	l.mu.Unlock()
	r := startEngine(t, Options{Set: set, Devices: devs, Log: l, State: l, Clock: clk})
	// Each failed append waits on the clock: move it to that wait's end.
	// Once the append went through, the engine waits for its next tick.
	for len(alerts(t, l)) == 0 {
		parked(t, clk)
		if at, ok := clk.Next(); ok {
			clk.Set(at)
		}
	}
	waitFor(t, r.e, "cursor", evaluated(r.e, ev.Seq))
	if st := r.e.Stats(); st.Retries != 3 {
		t.Errorf("retries %d, want 3", st.Retries)
	}
	if n := len(alerts(t, l)); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
}

// A rule whose expression fails at run time logs once (rate-limited),
// counts every failure, and does not stop the engine or lose the event.
func TestRuntimeErrorRateLimited(t *testing.T) {
	rules := []config.Rule{
		{Name: "bad", When: `latest("ghost", "x") > 1`},
		{Name: "good", When: `event.value > 5`},
	}
	set, err := Compile(rules, "UTC", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	l := newMemLog()
	clk := fakeclock.New(t0)
	r := startEngine(t, Options{Set: set, Log: l, State: l, Clock: clk, Logger: logger})
	var last edge.Event
	for i := 0; i < 50; i++ {
		last = appendEv(t, l, edge.Reading("s1", "v", float64(i), ""))
	}
	waitFor(t, r.e, "events evaluated", evaluated(r.e, last.Seq))
	if n := strings.Count(buf.String(), "rule expression failed"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "rules[0].when") {
		t.Errorf("log does not name the field: %s", buf.String())
	}
	st := r.e.Stats()
	if st.RuntimeErrors != 50 {
		t.Errorf("runtime errors %d, want 50", st.RuntimeErrors)
	}
	a := alerts(t, l)
	if len(a) != 1 || a[0].Alert.Rule != "good" {
		t.Errorf("alerts %+v, want the good rule's", a)
	}
	// A minute later the error is logged again, with the suppressed count.
	clk.Advance(61 * time.Second)
	last = appendEv(t, l, edge.Reading("s1", "v", 1, ""))
	waitFor(t, r.e, "event evaluated", evaluated(r.e, last.Seq))
	if n := strings.Count(buf.String(), "rule expression failed"); n != 2 {
		t.Errorf("logged %d times after a minute, want 2", n)
	}
	if !strings.Contains(buf.String(), "suppressed=49") {
		t.Errorf("second log line lacks suppressed=49:\n%s", buf.String())
	}
}
