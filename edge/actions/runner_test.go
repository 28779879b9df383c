package actions

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

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
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv[k] = v
	return nil
}
func (m *memState) DeleteState(k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.kv, k)
	return nil
}
func (m *memState) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	m.mu.Lock()
	m.recs = append(m.recs, ev)
	m.mu.Unlock()
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

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	// The pulse loop re-checks at most every second; a short real wait
	// keeps it polling the manual time.
	return time.After(time.Millisecond)
}
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

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

func start(t *testing.T, r *Runner) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
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
			clk := &fakeClock{now: t0}
			st := newMemState()
			out := &fakeOutput{}
			r1 := New(Options{Outputs: map[string]edge.Output{"siren": out}, State: st, Clock: clk})
			cancel := start(t, r1)
			if !r1.Submit(job(spec(t, config.RuleAction{Output: "siren", Op: "pulse", Duration: config.Duration(10 * time.Second)}))) {
				t.Fatal("not queued")
			}
			waitFor(t, "on", func() bool { return len(out.got()) == 1 })
			if op := out.got()[0]; op.Kind != edge.OpSet || !op.On {
				t.Fatalf("first op %+v, want set on", op)
			}
			if b, _ := st.GetState("pulse/siren"); b == nil {
				t.Fatal("pulse deadline not persisted")
			}
			cancel() // the gateway stops with the siren on
			time.Sleep(5 * time.Millisecond)
			clk.Advance(tc.downtime)

			r2 := New(Options{Outputs: map[string]edge.Output{"siren": out}, State: st, Clock: clk})
			start(t, r2)
			if tc.downtime < 10*time.Second {
				time.Sleep(20 * time.Millisecond)
				if n := len(out.got()); n != 1 {
					t.Fatalf("%d ops before the deadline, want 1", n)
				}
				if p := r2.PendingPulses(); len(p) != 1 || p[0] != "siren" {
					t.Fatalf("pending %v, want [siren]", p)
				}
				clk.Advance(10*time.Second - tc.downtime)
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
	waitFor(t, "two failures", func() bool { return r.Stats().Failed == 2 })
	waitFor(t, "two records", func() bool { return len(st.records()) == 2 })
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
	r := New(Options{Outputs: map[string]edge.Output{"relay": relay, "voice": voice}})
	start(t, r)
	ctx := context.Background()
	_ = time.Second
	if err := r.Test(ctx, "relay"); err != nil {
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
	r2 := New(Options{Outputs: map[string]edge.Output{"relay": relay}})
	if err := r2.Test(ctx, "relay"); err != nil || len(relay.got()) != 4 || relay.got()[3].On {
		t.Errorf("test without Run: %v, ops %+v", err, relay.got())
	}
}

func TestLogAction(t *testing.T) {
	r := New(Options{})
	start(t, r)
	s := spec(t, config.RuleAction{Log: "alert {{.AlertID}} at {{.Device.Location}}"})
	j := job(s)
	if got := j.Describe(); got != `log("alert r/d1/1 at c/b/u/h1")` {
		t.Errorf("describe %s", got)
	}
	r.Submit(j)
	waitFor(t, "ok", func() bool { return r.Stats().OK == 1 })
}
