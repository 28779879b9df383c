package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/wire"
)

// fakeController records what the uplink asks of the gateway (the real
// gateway is another component; this is its interface).
type fakeController struct {
	mu        sync.Mutex
	outputs   []string
	ops       []edge.Op
	acks      []string
	configs   []string
	announces []string
	rejectCfg bool
}

func (f *fakeController) Announce(_ context.Context, device string, d time.Duration, by, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announces = append(f.announces, fmt.Sprintf("%s %s %s %s", device, d, by, note))
	return nil
}

func (f *fakeController) ApplyOutput(_ context.Context, output string, op edge.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outputs = append(f.outputs, output)
	f.ops = append(f.ops, op)
	return nil
}
func (f *fakeController) AckAlert(id, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, id+" "+by)
	return nil
}
func (f *fakeController) Diagnostics(context.Context) ([]byte, error) { return []byte("PK-zip"), nil }
func (f *fakeController) ApplyConfig(_ context.Context, yaml []byte, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectCfg || !bytes.Contains(yaml, []byte("gateway:")) {
		return fmt.Errorf("central config %s:1:1: not a gateway config", version)
	}
	f.configs = append(f.configs, version)
	return nil
}

func (f *fakeController) calls() (outputs, acks, configs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.outputs...), append([]string(nil), f.acks...), append([]string(nil), f.configs...)
}

type rig struct {
	t      *testing.T
	st     *store.Store
	c      *testCentral
	ctl    *fakeController
	judge  *edge.ClockJudge
	u      *Uplink
	cancel context.CancelFunc
	done   chan struct{}
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T, tweak func(*config.Uplink)) *rig {
	t.Helper()
	return newRigOpts(t, tweak, nil)
}

// newRigOpts is newRig with a say in the uplink's Options too.
func newRigOpts(t *testing.T, tweak func(*config.Uplink), opts func(*Options)) *rig {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), CommitWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, st: st, c: newTestCentral(t), ctl: &fakeController{}, judge: &edge.ClockJudge{}, logBuf: &syncBuffer{}}
	cfg := config.Uplink{
		URL: r.c.srv.URL, Key: r.c.key.String(), MaxEvents: 200, MaxAge: config.Duration(20 * time.Millisecond),
		RetryMax: 2, RetryWaitMin: config.Duration(10 * time.Millisecond), RetryWaitMax: config.Duration(50 * time.Millisecond),
		RetryAfterCap: config.Duration(1500 * time.Millisecond), Timeout: config.Duration(5 * time.Second),
		PollInterval: config.Duration(50 * time.Millisecond), HeartbeatInterval: config.Duration(50 * time.Millisecond),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(r.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := Options{Config: cfg, GatewayID: "gw1", Log: st, State: st, Controller: r.ctl, Judge: r.judge, Logger: logger, Version: "test"}
	if opts != nil {
		opts(&o)
	}
	r.u, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := r.u.Run(ctx); err != nil {
			r.t.Errorf("Run: %v", err)
		}
	}()
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

func (r *rig) appendReadings(n int, dev string) []edge.Event {
	r.t.Helper()
	evs := make([]edge.Event, n)
	for i := range evs {
		evs[i] = edge.Reading(dev, "temp", float64(20+i%10), "C")
	}
	out, err := r.st.Append(context.Background(), evs...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *rig) appendAlert(id string) edge.Event {
	r.t.Helper()
	out, err := r.st.Append(context.Background(), edge.Event{Kind: edge.KindAlert, Device: "door-1",
		Alert: &edge.Alert{ID: id, Rule: "door", State: edge.AlertFiring, Severity: "critical", Message: "door open"}})
	if err != nil {
		r.t.Fatal(err)
	}
	return out[0]
}

// eventually polls cond for up to 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestUploadEverythingOnceAndCursorsMove(t *testing.T) {
	r := newRig(t, nil)
	r.appendReadings(1000, "t1")
	r.start()
	r.appendReadings(500, "t2")
	eventually(t, "all 1500 events at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 1500 })
	arr, dups := r.c.snapshot()
	if dups != 0 {
		t.Fatalf("got %d events stored twice, want 0", dups)
	}
	seen := map[uint64]bool{}
	for _, e := range arr {
		if e.Epoch != r.st.Epoch() || e.Seq < 1 || e.Seq > 1500 || seen[e.Seq] {
			t.Fatalf("got (%x,%d), want each of (%x, 1..1500) once", e.Epoch, e.Seq, r.st.Epoch())
		}
		seen[e.Seq] = true
	}
	eventually(t, "cursor at 1501", func() bool { c, _ := r.st.Cursor(edge.CursorUplink); return c == 1501 })
	st := r.u.Status()
	if st.BacklogEvents != 0 || !st.Reachable || st.Successes == 0 || st.URL == "" {
		t.Fatalf("status: got %+v, want no backlog, reachable, successes", st)
	}
	if !r.u.Up() {
		t.Fatal("Up: got false, want true")
	}
	// The test central has no config bundle (404): that is an answer, not a
	// failure, and must not show on the status page as an error.
	if st.LastError != "" || st.Failures != 0 {
		t.Fatalf("status after polls with no bundle: last error %q, %d failures; want none", st.LastError, st.Failures)
	}
}

func TestAlertRaisedDuringOutageGoesFirst(t *testing.T) {
	r := newRig(t, nil)
	r.u.SetPaused(true)
	r.start()
	r.appendReadings(3000, "t1")
	states := make([]edge.Event, 50)
	for i := range states {
		states[i] = edge.StateChange("door-2", "contact", "open", 1)
	}
	if _, err := r.st.Append(context.Background(), states...); err != nil {
		t.Fatal(err)
	}
	alert := r.appendAlert("a1")
	r.appendReadings(50, "t1")
	if r.u.Up() {
		t.Fatal("Up while paused: got true, want false")
	}
	if st := r.u.Status(); st.BacklogEvents != 3101 || !st.Paused || st.OldestUnsynced.IsZero() {
		t.Fatalf("paused status: got backlog %d paused %v oldest %v, want 3101 true non-zero", st.BacklogEvents, st.Paused, st.OldestUnsynced)
	}
	if a, _ := r.c.snapshot(); len(a) != 0 {
		t.Fatalf("paused uplink sent %d events", len(a))
	}
	r.u.SetPaused(false)
	eventually(t, "all events at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 3101 })
	arr, dups := r.c.snapshot()
	if dups != 0 {
		t.Fatalf("got %d duplicates stored", dups)
	}
	if arr[0].Seq != alert.Seq || arr[0].Kind != wire.KindAlert {
		t.Fatalf("first arrival: got seq %d kind %s, want the alert (seq %d)", arr[0].Seq, arr[0].Kind, alert.Seq)
	}
	// Then the state changes, then the readings.
	for i := 1; i <= 50; i++ {
		if arr[i].Kind != wire.KindState {
			t.Fatalf("arrival %d: got %s seq %d, want the state changes before any reading", i, arr[i].Kind, arr[i].Seq)
		}
	}
	// The main lane skipped the alert it knew was acknowledged: the
	// central platform saw no repeat of it (every batch counted).
	r.c.with(func() {
		if n := r.c.stored[[2]uint64{alert.Epoch, alert.Seq}]; n != 1 {
			t.Fatalf("alert stored %d times, want 1", n)
		}
	})
	eventually(t, "both cursors past the end", func() bool {
		m, _ := r.st.Cursor(edge.CursorUplink)
		a, _ := r.st.Cursor(CursorAlert)
		return m == 3102 && a == alert.Seq+1
	})
}

// TestAlertDuringRetryingBatchGoesFirst: the central platform refuses
// (503) while a main batch is being retried inside one delivery; an alert
// raised then stops that delivery, so when the platform comes back the
// alert arrives before any of the backlog.
func TestAlertDuringRetryingBatchGoesFirst(t *testing.T) {
	r := newRig(t, func(c *config.Uplink) {
		c.RetryMax = 100 // the delivery would retry for the whole outage
		c.RetryWaitMin, c.RetryWaitMax = config.Duration(5*time.Millisecond), config.Duration(20*time.Millisecond)
	})
	var down atomic.Bool
	down.Store(true)
	r.c.with(func() {
		r.c.fail = func(*http.Request) (int, string) {
			if down.Load() {
				return http.StatusServiceUnavailable, ""
			}
			return 0, ""
		}
	})
	r.appendReadings(1000, "t1")
	r.start()
	eventually(t, "the main batch retrying", func() bool {
		n := 0
		r.c.with(func() { n = len(r.c.nonces) })
		return n >= 5
	})
	before := 0
	r.c.with(func() { before = len(r.c.nonces) })
	alert := r.appendAlert("a1")
	// More attempts while the platform is down: the alert's, once the main
	// batch has given way (without that, the main batch's retries).
	eventually(t, "attempts after the alert", func() bool {
		n := 0
		r.c.with(func() { n = len(r.c.nonces) })
		return n >= before+3
	})
	down.Store(false)
	eventually(t, "all events at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 1001 })
	arr, dups := r.c.snapshot()
	if dups != 0 {
		t.Fatalf("got %d duplicates stored", dups)
	}
	if arr[0].Seq != alert.Seq {
		t.Fatalf("first arrival: got seq %d kind %s, want the alert (seq %d)", arr[0].Seq, arr[0].Kind, alert.Seq)
	}
}

// readHook is the store with a hook run before each Read of more than one
// event (the main lane's read; the status reads one): a test appends
// there, between the lanes' reads and the main batch.
type readHook struct {
	*store.Store
	before func()
}

func (h *readHook) Read(from uint64, max int) ([]edge.Event, error) {
	if max > 1 {
		h.before()
	}
	return h.Store.Read(from, max)
}

// TestAlertBetweenLaneReadsAndMainBatch: an alert appended after the step
// read the priority lanes but before its main batch went out, while the
// link was failing, goes first, even when the link is back before the main
// batch's first attempt (which would then succeed).
func TestAlertBetweenLaneReadsAndMainBatch(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var hook readHook
	var once sync.Once
	var alert edge.Event
	r := newRigOpts(t, func(c *config.Uplink) {
		c.RetryMax = 1
		c.RetryWaitMin, c.RetryWaitMax = config.Duration(5*time.Millisecond), config.Duration(20*time.Millisecond)
	}, func(o *Options) {
		hook.Store = o.Log.(*store.Store)
		o.Log = &hook
	})
	hook.before = func() {
		n := 0
		r.c.with(func() { n = len(r.c.nonces) })
		if n > 0 { // the main batch has failed: the next step's read
			once.Do(func() {
				alert = r.appendAlert("a1")
				down.Store(false)
			})
		}
	}
	r.c.with(func() {
		r.c.fail = func(req *http.Request) (int, string) {
			// Only batches see the link come back: no other exchange
			// tells the uplink it is up before the main batch goes.
			if down.Load() || req.URL.Path != wire.PathBatches {
				return http.StatusServiceUnavailable, ""
			}
			return 0, ""
		}
	})
	r.appendReadings(1000, "t1")
	r.start()
	eventually(t, "all events at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 1001 })
	arr, _ := r.c.snapshot()
	if arr[0].Seq != alert.Seq {
		t.Fatalf("first arrival: got seq %d kind %s, want the alert (seq %d)", arr[0].Seq, arr[0].Kind, alert.Seq)
	}
	if !strings.Contains(r.logBuf.String(), "a priority event goes first") {
		t.Fatal("the main batch did not give way")
	}
}

func TestTransientFailuresRetryResignedAndHonourRetryAfter(t *testing.T) {
	r := newRig(t, nil)
	var mu sync.Mutex
	calls := 0
	var times []time.Time
	r.c.fail = func(req *http.Request) (int, string) {
		if req.URL.Path != wire.PathBatches {
			return 0, ""
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		times = append(times, time.Now())
		switch calls {
		case 1:
			return http.StatusTooManyRequests, "1"
		case 2:
			return http.StatusServiceUnavailable, "3600" // capped at retry_after_cap (1.5s)
		case 3:
			return http.StatusInternalServerError, ""
		}
		return 0, ""
	}
	r.appendReadings(50, "t1")
	r.start()
	eventually(t, "50 events at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 50 })
	mu.Lock()
	defer mu.Unlock()
	if calls < 4 {
		t.Fatalf("got %d batch attempts, want at least 4", calls)
	}
	if d := times[1].Sub(times[0]); d < 900*time.Millisecond {
		t.Fatalf("retry after 429 Retry-After: 1 came after %v, want about 1s", d)
	}
	if d := times[2].Sub(times[1]); d < 1400*time.Millisecond || d > 10*time.Second {
		t.Fatalf("retry after Retry-After: 3600 came after %v, want the 1.5s cap", d)
	}
	r.c.with(func() {
		seen := map[string]bool{}
		for _, n := range r.c.nonces {
			if seen[n] {
				t.Fatalf("nonce %s used twice: retries must be signed anew", n)
			}
			seen[n] = true
		}
	})
	if st := r.u.Status(); st.Failures == 0 {
		t.Fatalf("status: got %d failures, want some", st.Failures)
	}
}

func TestPoisonEventQuarantinedAndAlarmsStillGo(t *testing.T) {
	r := newRig(t, nil)
	r.c.reject = func(evs []wire.Event) (int, string) {
		for _, e := range evs {
			if e.Device == "poison" {
				return http.StatusUnprocessableEntity, "device poison is not allowed"
			}
		}
		return 0, ""
	}
	r.appendReadings(60, "t1")
	bad := r.appendReadings(1, "poison")[0]
	r.appendReadings(60, "t1")
	alert := r.appendAlert("a1")
	r.start()
	defer dumpLogs(t, r)
	// 120 good readings + the alert + the gap record of the poison event.
	eventually(t, "good events, alert and gap record at central", func() bool { a, _ := r.c.snapshot(); return len(a) == 122 })
	arr, _ := r.c.snapshot()
	var gap *wire.Gap
	gotAlert := false
	for _, e := range arr {
		if e.Device == "poison" {
			t.Fatal("the poison event was stored")
		}
		if e.Kind == wire.KindGap {
			gap = e.Gap
		}
		gotAlert = gotAlert || (e.Kind == wire.KindAlert && e.Seq == alert.Seq)
	}
	if !gotAlert {
		t.Fatal("the alert did not arrive")
	}
	if gap == nil || gap.From != bad.Seq || gap.To != bad.Seq || gap.Count != 1 || !strings.HasPrefix(gap.Reason, "rejected by central: device poison") {
		t.Fatalf("gap record: got %+v, want seq %d rejected by central", gap, bad.Seq)
	}
	key := fmt.Sprintf("%s%016x-%d-%d", QuarantinePrefix, bad.Epoch, bad.Seq, bad.Seq)
	b, err := r.st.GetState(key)
	if err != nil || b == nil {
		t.Fatalf("quarantine %s: got %v, %v", key, b, err)
	}
	var q Quarantined
	if err := json.Unmarshal(b, &q); err != nil || len(q.Events) != 1 || q.Events[0].Device != "poison" || q.Status != 422 {
		t.Fatalf("quarantined record: got %+v (%v)", q, err)
	}
	if st := r.u.Status(); st.Quarantined != 1 {
		t.Fatalf("status quarantined: got %d, want 1", st.Quarantined)
	}
}

func TestForgedAckDoesNotMoveCursor(t *testing.T) {
	r := newRig(t, nil)
	r.c.forgeAck = true
	r.appendReadings(10, "t1")
	r.start()
	eventually(t, "a forged ack counted", func() bool { return r.u.Forged() > 0 })
	if c, _ := r.st.Cursor(edge.CursorUplink); c != 1 {
		t.Fatalf("cursor after forged acks: got %d, want 1", c)
	}
	r.c.with(func() { r.c.forgeAck = false })
	eventually(t, "cursor moves once acks are genuine", func() bool { c, _ := r.st.Cursor(edge.CursorUplink); return c == 11 })
}

func TestCommandsRunOnceAndForgedCommandsRefused(t *testing.T) {
	r := newRig(t, nil)
	r.c.forgeCmds = true
	r.c.commands = []wire.Command{{ID: 1, Type: wire.CmdPulseOutput, Args: map[string]string{"output": "siren", "duration": "3s"}}}
	r.start()
	eventually(t, "forged command list refused", func() bool { return r.u.Forged() >= 2 })
	if outs, _, _ := r.ctl.calls(); len(outs) != 0 {
		t.Fatalf("forged command ran: %v", outs)
	}
	r.c.with(func() {
		r.c.forgeCmds = false
		r.c.commands = append(r.c.commands,
			wire.Command{ID: 2, Type: wire.CmdAckAlert, Args: map[string]string{"id": "a1", "by": "ops"}},
			wire.Command{ID: 3, Type: wire.CmdSendDiagnostics},
			wire.Command{ID: 4, Type: "self_destruct"},
			wire.Command{ID: 5, Type: wire.CmdPlayVoice, Args: map[string]string{"output": "voice", "track": "7"}},
			wire.Command{ID: 6, Type: wire.CmdAnnounce, Args: map[string]string{"device": "door-3-101", "for": "2h", "by": "carer", "note": "doctor"}},
			wire.Command{ID: 7, Type: wire.CmdAnnounce, Args: map[string]string{"device": "door-3-101", "for": "soon"}})
	})
	eventually(t, "all results posted", func() bool {
		n := 0
		r.c.with(func() { n = len(r.c.results) })
		return n == 7
	})
	r.ctl.mu.Lock()
	if len(r.ctl.announces) != 1 || r.ctl.announces[0] != "door-3-101 2h0m0s central:carer doctor" {
		t.Errorf("announcements: %q", r.ctl.announces)
	}
	r.ctl.mu.Unlock()
	r.c.with(func() {
		if !r.c.results[6].OK || r.c.results[7].OK || !strings.Contains(r.c.results[7].Error, "want device and for") {
			t.Errorf("announce results: %+v %+v", r.c.results[6], r.c.results[7])
		}
	})
	outs, acks, _ := r.ctl.calls()
	if len(outs) != 2 || outs[0] != "siren" || outs[1] != "voice" {
		t.Fatalf("outputs: got %v, want [siren voice]", outs)
	}
	r.ctl.mu.Lock()
	if op := r.ctl.ops[0]; op.Kind != edge.OpPulse || op.Duration != 3*time.Second || !op.On {
		t.Errorf("pulse op: got %+v", op)
	}
	if op := r.ctl.ops[1]; op.Kind != edge.OpSend || op.Vars["track"] != "7" {
		t.Errorf("voice op: got %+v", op)
	}
	r.ctl.mu.Unlock()
	if len(acks) != 1 || acks[0] != "a1 central:ops" {
		t.Fatalf("acks: got %v", acks)
	}
	r.c.with(func() {
		if !r.c.results[1].OK || !r.c.results[2].OK || string(r.c.results[3].Attachment) != "PK-zip" {
			t.Errorf("results: got %+v", r.c.results)
		}
		if res := r.c.results[4]; res.OK || !strings.Contains(res.Error, "unknown command type") {
			t.Errorf("unknown command: got %+v, want an error", res)
		}
	})
	// Ran once: polls after the results do not run them again.
	r.c.morePolls(t, wire.PathCommands, 2)
	if outs, _, _ := r.ctl.calls(); len(outs) != 2 {
		t.Fatalf("commands ran again: %v", outs)
	}
}

func TestConfigBundleAppliedAndBadOneRefused(t *testing.T) {
	r := newRig(t, nil)
	r.c.bundle = &wire.ConfigBundle{Version: "v1", ETag: `"e1"`, YAML: "gateway:\n  id: gw1\n"}
	r.start()
	eventually(t, "v1 applied", func() bool { return r.u.Status().ConfigVersion == "v1" })
	r.c.with(func() { r.c.bundle = &wire.ConfigBundle{Version: "v2", ETag: `"e2"`, YAML: "this is: [not a config"} })
	eventually(t, "v2 refused", func() bool { return strings.Contains(r.u.ConfigError(), "config v2 refused") })
	if v := r.u.Status().ConfigVersion; v != "v1" {
		t.Fatalf("config version after a refused bundle: got %q, want v1", v)
	}
	eventually(t, "the refusal reported in a heartbeat", func() bool {
		ok := false
		r.c.with(func() {
			for _, hb := range r.c.heartbeats {
				ok = ok || strings.Contains(hb.LastError, "config v2 refused") && strings.Contains(hb.ConfigError, "config v2 refused")
			}
		})
		return ok
	})
	_, _, cfgs := r.ctl.calls()
	if len(cfgs) != 1 {
		t.Fatalf("configs applied: got %v, want [v1]", cfgs)
	}
	// The refused bundle is not tried again on every poll.
	r.c.morePolls(t, wire.PathConfig, 2)
	r.ctl.mu.Lock()
	n := len(r.ctl.configs)
	r.ctl.mu.Unlock()
	if v := r.u.Status().ConfigVersion; v != "v1" || n != 1 {
		t.Fatalf("config version: got %q after %d applies, want v1 after 1", v, n)
	}
}

func TestClockSkewFromDateHeader(t *testing.T) {
	r := newRig(t, nil)
	r.c.dateShift = time.Hour
	r.start()
	eventually(t, "skew known", func() bool { _, ok := r.judge.Skew(); return ok })
	d, _ := r.judge.Skew()
	if d < time.Hour-3*time.Second || d > time.Hour+3*time.Second {
		t.Fatalf("skew: got %v, want about +1h (server ahead)", d)
	}
	if st := r.u.Status(); !st.SkewKnown || st.ClockSkew != d {
		t.Fatalf("status skew: got %v %v, want %v", st.ClockSkew, st.SkewKnown, d)
	}
	if _, trusted := r.judge.Stamp(); trusted {
		t.Fatal("a clock 1h off the server's is trusted")
	}
}

func TestLibraryLogsGoToSlog(t *testing.T) {
	r := newRig(t, nil)
	r.c.fail = func(req *http.Request) (int, string) { return http.StatusInternalServerError, "" }
	r.appendReadings(1, "t1")
	r.start()
	eventually(t, "retryablehttp's messages in the slog output", func() bool {
		return strings.Contains(r.logBuf.String(), "lib=retryablehttp")
	})
	if r.u.Up() {
		t.Fatal("Up with central failing: got true, want false")
	}
}

func TestAuthFailureKeepsData(t *testing.T) {
	r := newRig(t, nil)
	r.c.fail = func(req *http.Request) (int, string) { return http.StatusUnauthorized, "" }
	r.appendReadings(5, "t1")
	r.start()
	eventually(t, "some failures", func() bool { return r.u.Status().Failures >= 3 })
	if st := r.u.Status(); st.Quarantined != 0 {
		t.Fatalf("401 quarantined %d batches: a wrong key must not cost data", st.Quarantined)
	}
	if c, _ := r.st.Cursor(edge.CursorUplink); c != 1 {
		t.Fatalf("cursor: got %d, want 1", c)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no url", Options{GatewayID: "g", Log: st, State: st}, "no url"},
		{"no id", Options{Config: config.Uplink{URL: "http://x", Key: key}, Log: st, State: st}, "gateway id"},
		{"no log", Options{Config: config.Uplink{URL: "http://x", Key: key}, GatewayID: "g"}, "required"},
		{"bad key", Options{Config: config.Uplink{URL: "http://x", Key: "zz"}, GatewayID: "g", Log: st, State: st}, "key"},
		{"ftp", Options{Config: config.Uplink{URL: "ftp://x", Key: key}, GatewayID: "g", Log: st, State: st}, "scheme"},
		{"missing ca", Options{Config: config.Uplink{URL: "https://x", Key: key, CAFile: "/nonexistent/ca.pem"}, GatewayID: "g", Log: st, State: st}, "ca file"},
	} {
		_, err := New(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   error
	}{
		{200, nil}, {304, nil}, {408, ErrTransient}, {429, ErrTransient}, {500, ErrTransient}, {503, ErrTransient},
		{401, ErrTransient}, {403, ErrTransient}, {400, ErrRejected}, {413, ErrRejected}, {422, ErrRejected}, {302, ErrTransient},
	} {
		if got := classify(tc.status); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
			t.Errorf("classify(%d): got %v, want %v", tc.status, got, tc.want)
		}
	}
	e := &Error{Class: ErrRejected, Status: 422, Msg: "bad"}
	if !errors.Is(e, ErrRejected) || errors.Is(e, ErrTransient) || e.Error() != "rejected by central: HTTP 422: bad" {
		t.Fatalf("Error: got %q", e.Error())
	}
}

func dumpLogs(t *testing.T, r *rig) {
	t.Helper()
	if t.Failed() {
		a, _ := r.c.snapshot()
		t.Logf("central has %d events; log:\n%s", len(a), r.logBuf.String())
	}
}

func TestSystemicRejectionHoldsTheQueue(t *testing.T) {
	r := newRig(t, nil)
	var mu sync.Mutex
	rejectAll := true
	r.c.reject = func(evs []wire.Event) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if rejectAll {
			return http.StatusBadRequest, "unsupported batch"
		}
		return 0, ""
	}
	r.appendReadings(200, "t1")
	r.start()
	defer dumpLogs(t, r)
	eventually(t, "the uplink to hold the queue", func() bool {
		return r.u.Status().Quarantined == maxRejectRun && strings.Contains(r.u.Status().LastError, "holding the queue")
	})
	r.c.morePolls(t, wire.PathBatches, 3)
	if q := r.u.Status().Quarantined; q != maxRejectRun {
		t.Fatalf("quarantined: got %d, want it to stop at %d", q, maxRejectRun)
	}
	if c, _ := r.st.Cursor(edge.CursorUplink); c != maxRejectRun+1 {
		t.Fatalf("cursor: got %d, want %d", c, maxRejectRun+1)
	}
	mu.Lock()
	rejectAll = false
	mu.Unlock()
	// The rest of the readings and one gap record per quarantined event.
	eventually(t, "the queue to move again", func() bool {
		a, _ := r.c.snapshot()
		return len(a) == 200-maxRejectRun+maxRejectRun
	})
}
