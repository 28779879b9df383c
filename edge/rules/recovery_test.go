package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// TestRecoverAlertCoveredByState: the state was saved after an alert fired
// but the alert itself landed after the saved cursor (the log is busy, so
// the append gets a later seq). After a crash the alert is in the recovered
// set, the loaded state already has it, and re-evaluation resolves it: the
// end of recovery must not adopt it again as active.
func TestRecoverAlertCoveredByState(t *testing.T) {
	set, devs := doorSet(t, 0)
	clk := fakeclock.New(t0)
	m := newMemLog()
	r1 := startEngine(t, Options{Set: set, Devices: devs, Log: m, State: m, Clock: clk})
	open := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r1.e, "alert", func() bool { return len(alerts(t, m)) == 1 })
	fired := alerts(t, m)[0]
	waitFor(t, r1.e, "alert read back", evaluated(r1.e, fired.Seq))
	r1.stop()
	// The state reflects the events up to the alert; the cursor as a run
	// that crashed before moving it past the alert left it.
	if err := m.SetCursor(edge.CursorRules, fired.Seq); err != nil {
		t.Fatal(err)
	}
	closed := appendEv(t, m, edge.StateChange("d1", "door", "closed", 0))
	_ = open

	r2 := startEngine(t, Options{Set: set, Devices: devs, Log: m, State: m, Clock: clk})
	waitFor(t, r2.e, "closed evaluated", evaluated(r2.e, closed.Seq))
	waitFor(t, r2.e, "resolved", func() bool { return countState(alerts(t, m), edge.AlertResolved) == 1 })
	waitFor(t, r2.e, "resolve read back", evaluated(r2.e, closed.Seq+1))
	if act := r2.e.Active(); len(act) != 0 {
		t.Fatalf("active after the resolve: %+v, want none", act)
	}
	again := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
	waitFor(t, r2.e, "second alert", func() bool { return countState(alerts(t, m), edge.AlertFiring) == 2 })
	waitFor(t, r2.e, "evaluated", evaluated(r2.e, again.Seq))
}

// TestEndRecoveryResolvedByReevaluation is the core of the above without
// timing: the loaded state already has the alert (so re-evaluation never
// adopts it by firing), re-evaluation resolves it, and the end of recovery
// must not bring it back as active. Events between the end of recovery and
// the engine reading back its own resolution would otherwise be evaluated
// with a stale alert active (the next door opening would not fire).
func TestEndRecoveryResolvedByReevaluation(t *testing.T) {
	set, devs := doorSet(t, 0)
	m := newMemLog()
	c1 := NewCore(set, devs, nil)
	c1.Start(t0)
	open := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
	ch := c1.Event(&open, t0)
	if len(ch) != 1 {
		t.Fatalf("got %d changes, want the alert", len(ch))
	}
	st := newStateStore(m)
	if err := st.take(c1, open.Seq+1); err != nil {
		t.Fatal(err)
	}
	if err := st.flush(t0, open.Seq+1); err != nil {
		t.Fatal(err)
	}
	fired := appendEv(t, m, ch[0].Event) // after the saved cursor

	c2 := NewCore(set, devs, nil)
	if _, err := newStateStore(m).load(c2); err != nil {
		t.Fatal(err)
	}
	c2.Recover(&fired)
	c2.Start(t0)
	closed := appendEv(t, m, edge.StateChange("d1", "door", "closed", 0))
	if got := c2.Event(&fired, t0); len(got) != 0 {
		t.Fatalf("reading the alert back: %d changes", len(got))
	}
	got := c2.Event(&closed, t0)
	if len(got) != 1 || got[0].Event.Alert.State != edge.AlertResolved {
		t.Fatalf("closing: %+v, want the resolution", got)
	}
	c2.EndRecovery()
	if act := c2.Active(); len(act) != 0 {
		t.Fatalf("active after the end of recovery: %+v, want none", act)
	}
	again := appendEv(t, m, edge.StateChange("d1", "door", "open", 1))
	if got := c2.Event(&again, t0); len(got) != 1 || got[0].Event.Alert.State != edge.AlertFiring {
		t.Fatalf("opening again: %+v, want a new alert", got)
	}
}

// TestAckResolveRefiresInLogOrder: with resolve: ack, a condition that rose
// again while the alert was active raises the next alert when the
// acknowledgement is read, not at the next timer tick, so a replay of the
// log, and a restart (which ticks at once), give the same alerts.
func TestAckResolveRefiresInLogOrder(t *testing.T) {
	set, devs := crashRules(t)
	c := NewCore(set, devs, nil)
	c.Start(t0)
	var seq uint64
	feed := func(ev edge.Event) []Change {
		seq++
		ev.Seq, ev.Time = seq, t0
		return c.Event(&ev, t0)
	}
	if ch := feed(edge.StateChange("d1", "alarm", "FALL", 0)); len(ch) != 1 {
		t.Fatalf("FALL: %d changes, want the alert", len(ch))
	}
	feed(edge.StateChange("d1", "alarm", "ok", 0))
	feed(edge.StateChange("d1", "alarm", "FALL", 0)) // rises again while active
	ch, err := c.Ack("camera/d1/1", "local:test", t0)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, x := range ch {
		states = append(states, x.Event.Alert.ID+" "+string(x.Event.Alert.State))
	}
	want := []string{"camera/d1/1 acknowledged", "camera/d1/1 resolved", "camera/d1/3 firing"}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("ack: %v, want %v", states, want)
	}
	if got := c.Tick(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("tick after the ack: %d changes, want none", len(got))
	}
}
