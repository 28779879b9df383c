package actions

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// changed is closed and replaced whenever a test double below changes (an
// op applied, a record or a state key written), so that tests wait on
// what they look for instead of polling. The tests of this package do not
// run in parallel.
var changed = newSignal()

type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// fakeOutput records the ops it is given; it stands for a simulated
// relay, voice module or modem behind the edge.Output interface.
type fakeOutput struct {
	mu    sync.Mutex
	ops   []edge.Op
	fail  error
	block bool // wait for ctx to end
	noSet bool // ErrUnsupported for set (a text-only output)
}

func (f *fakeOutput) Apply(ctx context.Context, op edge.Op) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	defer changed.notify()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noSet && op.Kind == edge.OpSet {
		return edge.ErrUnsupported
	}
	if f.fail != nil {
		return f.fail
	}
	f.ops = append(f.ops, op)
	return nil
}

func (f *fakeOutput) got() []edge.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]edge.Op(nil), f.ops...)
}

// memState is an edge.StateStore and the part of edge.Log a runner uses.
type memState struct {
	edge.Log // nil: only AppendAsync is called
	mu       sync.Mutex
	kv       map[string][]byte
	recs     []edge.Event
}

func newMemState() *memState { return &memState{kv: map[string][]byte{}} }

func (m *memState) GetState(k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kv[k], nil
}
func (m *memState) PutState(k string, v []byte) error {
	defer changed.notify()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv[k] = v
	return nil
}
func (m *memState) DeleteState(k string) error {
	defer changed.notify()
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.kv, k)
	return nil
}
func (m *memState) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	m.mu.Lock()
	m.recs = append(m.recs, ev)
	m.mu.Unlock()
	changed.notify()
	if done != nil {
		done(ev, nil)
	}
	return nil
}
func (m *memState) records() []edge.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]edge.Event(nil), m.recs...)
}

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

func spec(t *testing.T, a config.RuleAction) *Spec {
	t.Helper()
	r := config.Rule{Name: "r", Actions: []config.RuleAction{a}}
	r.SetDefaults()
	s, err := Compile("r", 0, r.Actions[0], "rules[0].actions[0]")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func job(s *Spec) Job {
	return Job{Spec: s, Alert: edge.Alert{ID: "r/d1/1", Rule: "r", State: edge.AlertFiring, Severity: "critical", Message: "door d1 open"},
		Device: edge.Device{ID: "d1", Location: "c/b/u/h1"}, Event: edge.Event{Value: 61.5}, Time: t0}
}

// start runs r until the test ends; stop ends it and waits for it.
func start(t *testing.T, r *Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitFor waits until cond holds, checking it again at every change of the
// test doubles, for at most 10s. cond must look at something a double
// changes last (a runner's counter is bumped after its output returns:
// wait for the record that follows it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		ch := changed.wait()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSendRendersTemplates(t *testing.T) {
	out := &fakeOutput{}
	r := New(Options{Outputs: map[string]edge.Output{"led": out}})
	start(t, r)
	s := spec(t, config.RuleAction{Output: "led", Text: "FIRE {{.Device.Location}} {{.Event.Value}}", Vars: map[string]string{"track": "{{if eq .Severity \"critical\"}}9{{else}}1{{end}}"}})
	if !r.Submit(job(s)) {
		t.Fatal("not queued")
	}
	waitFor(t, "op", func() bool { return len(out.got()) == 1 })
	op := out.got()[0]
	if op.Kind != edge.OpSend || op.Text != "FIRE c/b/u/h1 61.5" || op.Vars["track"] != "9" || op.Vars["device"] != "d1" {
		t.Errorf("got %+v", op)
	}
}

// A pulse switches on now and off at the deadline; the deadline is durable,
// so a runner that restarts after it switches the output off at once, and
// one that restarts before it switches it off when due.
func TestPulseSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		downtime time.Duration
	}{{"deadline passed during the restart", 20 * time.Second}, {"deadline after the restart", 3 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := fakeclock.New(t0)
			st := newMemState()
			out := &fakeOutput{}
			r1 := New(Options{Outputs: map[string]edge.Output{"siren": out}, State: st, Clock: clk})
			stop := start(t, r1)
			if !r1.Submit(job(spec(t, config.RuleAction{Output: "siren", Op: "pulse", Duration: config.Duration(10 * time.Second)}))) {
				t.Fatal("not queued")
			}
			// The "on" is applied, then its "off" deadline written.
			waitFor(t, "pulse deadline persisted", func() bool { b, _ := st.GetState("pulse/siren"); return b != nil })
			if ops := out.got(); len(ops) != 1 || ops[0].Kind != edge.OpSet || !ops[0].On {
				t.Fatalf("ops %+v, want set on", ops)
			}
			stop() // the gateway stops with the siren on

			// It starts again tc.downtime later, on a new clock as a new
			// process would: the restored pulse loop is the only waiter.
			clk2 := fakeclock.New(t0.Add(tc.downtime))
			r2 := New(Options{Outputs: map[string]edge.Output{"siren": out}, State: st, Clock: clk2})
			start(t, r2)
			if tc.downtime < 10*time.Second {
				if !clk2.BlockUntil(1, 10*time.Second) {
					t.Fatal("the restarted runner does not wait for the pulse's end")
				}
				if n := len(out.got()); n != 1 {
					t.Fatalf("%d ops before the deadline, want 1", n)
				}
				if p := r2.PendingPulses(); len(p) != 1 || p[0] != "siren" {
					t.Fatalf("pending %v, want [siren]", p)
				}
				clk2.Advance(10*time.Second - tc.downtime)
			}
			waitFor(t, "off", func() bool { return len(out.got()) == 2 })
			if op := out.got()[1]; op.Kind != edge.OpSet || op.On {
				t.Fatalf("second op %+v, want set off", op)
			}
			waitFor(t, "deadline cleared", func() bool { b, _ := st.GetState("pulse/siren"); return b == nil })
		})
	}
}

func TestQueueFullDropsAndRecords(t *testing.T) {
	out := &fakeOutput{}
	st := newMemState()
	r := New(Options{Outputs: map[string]edge.Output{"voice": out}, Log: st, Queue: 2})
	s := spec(t, config.RuleAction{Output: "voice", Op: "send"})
	// Not started: the queue fills.
	for i := 0; i < 5; i++ {
		r.Submit(job(s))
	}
	if st := r.Stats(); st.Dropped != 3 || st.Submitted != 5 {
		t.Errorf("stats %+v, want 3 dropped of 5", st)
	}
	start(t, r)
	waitFor(t, "records", func() bool { return len(st.records()) == 3 })
	rec := st.records()[0]
	if rec.Kind != edge.KindAction || rec.Action.Result != "dropped" || rec.Action.Output != "voice" || rec.Action.Rule != "r" || rec.Device != "d1" {
		t.Errorf("record %+v %+v", rec, rec.Action)
	}
	waitFor(t, "the queued two run", func() bool { return len(out.got()) == 2 })
}

func TestFailureAndTimeoutRecorded(t *testing.T) {
	bad := &fakeOutput{fail: errors.New("modem says +CMS ERROR: 330")}
	stuck := &fakeOutput{block: true}
	st := newMemState()
	r := New(Options{Outputs: map[string]edge.Output{"sms": bad, "relay": stuck}, Log: st, Timeout: 20 * time.Millisecond})
	start(t, r)
	r.Submit(job(spec(t, config.RuleAction{SMS: []string{"+86100"}})))
	r.Submit(job(spec(t, config.RuleAction{Output: "relay", Op: "set"})))
	waitFor(t, "two records", func() bool { return len(st.records()) == 2 })
	if n := r.Stats().Failed; n != 2 {
		t.Errorf("failed %d, want 2", n)
	}
	for _, rec := range st.records() {
		if rec.Action.Result != "failed" || rec.Action.Error == "" {
			t.Errorf("record %+v", rec.Action)
		}
	}
}

func TestRateLimitAndUplink(t *testing.T) {
	out := &fakeOutput{}
	up := true
	var mu sync.Mutex
	r := New(Options{Outputs: map[string]edge.Output{"sms": out}, UplinkUp: func() bool { mu.Lock(); defer mu.Unlock(); return up }})
	start(t, r)
	sms := spec(t, config.RuleAction{SMS: []string{"+86100"}, OnlyUplinkDown: true, RateLimit: &config.RateLimit{N: 2, Per: config.Duration(time.Minute)}})
	if r.Submit(job(sms)) {
		t.Error("sms sent while the uplink is up")
	}
	mu.Lock()
	up = false
	mu.Unlock()
	j := job(sms)
	for i := 0; i < 3; i++ {
		j.Time = t0.Add(time.Duration(i) * time.Second)
		r.Submit(j)
	}
	j.Time = t0.Add(61 * time.Second)
	r.Submit(j)
	waitFor(t, "3 sms", func() bool { return len(out.got()) == 3 })
	st := r.Stats()
	if st.Skipped != 1 || st.RateLimited != 1 {
		t.Errorf("stats %+v, want 1 skipped, 1 rate limited", st)
	}
	if op := out.got()[0]; op.Kind != edge.OpSend || op.Text != "door d1 open" || len(op.To) != 1 {
		t.Errorf("sms op %+v", op)
	}
}

func TestTestButton(t *testing.T) {
	relay := &fakeOutput{}
	voice := &fakeOutput{noSet: true}
	clk := fakeclock.New(t0)
	r := New(Options{Outputs: map[string]edge.Output{"relay": relay, "voice": voice}, Clock: clk})
	start(t, r)
	ctx := context.Background()
	// The pulse loop waits on the clock; Test then waits TestPulse on it.
	if !clk.BlockUntil(1, 10*time.Second) {
		t.Fatal("the pulse loop does not wait on the clock")
	}
	done := make(chan error, 1)
	go func() { done <- r.Test(ctx, "relay") }()
	if !clk.BlockUntil(2, 10*time.Second) {
		t.Fatal("Test does not wait on the clock")
	}
	if ops := relay.got(); len(ops) != 1 || !ops[0].On {
		t.Fatalf("relay ops %+v during the test, want set on", ops)
	}
	clk.Advance(TestPulse)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ops := relay.got(); len(ops) != 2 || ops[0].Kind != edge.OpSet || !ops[0].On || ops[1].On {
		t.Errorf("relay ops %+v, want set on, set off", ops)
	}
	if err := r.Test(ctx, "voice"); err != nil {
		t.Fatal(err)
	}
	if ops := voice.got(); len(ops) != 1 || ops[0].Kind != edge.OpSend {
		t.Errorf("voice ops %+v, want a test send", ops)
	}
	if err := r.Test(ctx, "nope"); !errors.Is(err, ErrUnknownOutput) {
		t.Errorf("got %v, want ErrUnknownOutput", err)
	}
	// Test needs no Run (edgegw output test): the off happens before it returns.
	clk2 := fakeclock.New(t0)
	r2 := New(Options{Outputs: map[string]edge.Output{"relay": relay}, Clock: clk2})
	go func() { done <- r2.Test(ctx, "relay") }()
	if !clk2.BlockUntil(1, 10*time.Second) {
		t.Fatal("Test without Run does not wait on the clock")
	}
	clk2.Advance(TestPulse)
	if err := <-done; err != nil || len(relay.got()) != 4 || relay.got()[3].On {
		t.Errorf("test without Run: %v, ops %+v", err, relay.got())
	}
}

func TestLogAction(t *testing.T) {
	st := newMemState()
	r := New(Options{Log: st, RecordOK: true})
	start(t, r)
	s := spec(t, config.RuleAction{Log: "alert {{.AlertID}} at {{.Device.Location}}"})
	j := job(s)
	if got := j.Describe(); got != `log("alert r/d1/1 at c/b/u/h1")` {
		t.Errorf("describe %s", got)
	}
	r.Submit(j)
	waitFor(t, "the ok record", func() bool { return len(st.records()) == 1 })
	if n := r.Stats().OK; n != 1 {
		t.Errorf("ok %d, want 1", n)
	}
}
