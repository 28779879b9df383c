package actions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Options configure a Runner.
type Options struct {
	// Outputs are the configured outputs by name.
	Outputs map[string]edge.Output
	// Log records dropped and failed actions as KindAction events. Nil: not
	// recorded (counted only).
	Log edge.Log
	// State keeps pulse deadlines ("pulse/<output>") so that an output is
	// switched off even across a restart. Nil: pulses are not durable.
	State edge.StateStore
	// Clock defaults to the system clock.
	Clock edge.Clock
	// Logger defaults to a discarding logger.
	Logger edge.Logger
	// Queue is the capacity of each output's queue. Default: 64.
	Queue int
	// Timeout bounds each Output.Apply. Default: 10s.
	Timeout time.Duration
	// UplinkUp reports whether the central platform is reachable; actions
	// with only_uplink_down run only when it returns false. Nil: the uplink
	// counts as down (a gateway without uplink always sends).
	UplinkUp func() bool
	// RecordOK also records successful actions as events. Default: false.
	RecordOK bool
	// Meter counts every output call and its duration; nil: the runner
	// keeps its own (Runner.Meter).
	Meter *Meter
}

// Stats are the runner's counters.
type Stats struct {
	Submitted   uint64 `json:"submitted"`
	OK          uint64 `json:"ok"`
	Failed      uint64 `json:"failed"`
	Dropped     uint64 `json:"dropped"`      // queue full or unknown output
	RateLimited uint64 `json:"rate_limited"` // dropped by the action's rate limit
	Skipped     uint64 `json:"skipped"`      // only_uplink_down while the uplink was up
	Unrecorded  uint64 `json:"unrecorded"`   // records lost because their own queue was full
	Pending     int    `json:"pending_pulses"`
}

// ErrUnknownOutput is returned for an output name that is not configured.
var ErrUnknownOutput = errors.New("unknown output")

// Tester is implemented by outputs with their own idea of a harmless test
// (a voice module plays a test chime).
type Tester interface {
	Test(ctx context.Context) error
}

type item struct {
	job *Job   // a rule action
	off bool   // the end of a pulse
	ran func() // called after an internal op
}

// Runner runs actions. Submit never blocks; every output has its own
// bounded queue and goroutine, so a stuck output only delays itself.
type Runner struct {
	o     Options
	log   edge.Logger
	clk   edge.Clock
	lanes map[string]chan item // "" is the log lane
	recs  chan edge.Event

	submitted, ok, failed, dropped, limited, skipped, unrecorded atomic.Uint64

	mu     sync.Mutex
	rate   Limiter              // spec name -> recent run times
	pulses map[string]time.Time // output -> off deadline
	wake   chan struct{}
}

// New makes a runner; call Run to start its goroutines. Jobs submitted
// before Run wait in the queues.
func New(o Options) *Runner {
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = edge.DiscardLogger()
	}
	if o.Queue <= 0 {
		o.Queue = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Meter == nil {
		o.Meter = NewMeter()
	}
	r := &Runner{o: o, log: o.Logger, clk: o.Clock, lanes: map[string]chan item{"": make(chan item, o.Queue)},
		recs: make(chan edge.Event, 256), rate: Limiter{}, pulses: map[string]time.Time{},
		wake: make(chan struct{}, 1)}
	for name := range o.Outputs {
		r.lanes[name] = make(chan item, o.Queue)
	}
	return r
}

// Submit queues a job. It never blocks: a full queue, a rate limit or an
// unknown output drops the job, counts it and records it. It returns
// whether the job was queued.
func (r *Runner) Submit(j Job) bool {
	r.submitted.Add(1)
	s := j.Spec
	if s.OnlyUplinkDown && r.o.UplinkUp != nil && r.o.UplinkUp() {
		r.skipped.Add(1)
		return false
	}
	if s.RateN > 0 && !r.allow(s, j.Time) {
		r.limited.Add(1)
		r.record(&j, "dropped", "rate limited")
		return false
	}
	lane := ""
	if s.Kind != KindLog {
		lane = s.Output
	}
	ch, ok := r.lanes[lane]
	if !ok {
		r.dropped.Add(1)
		r.record(&j, "dropped", fmt.Sprintf("%v %q", ErrUnknownOutput, lane))
		return false
	}
	select {
	case ch <- item{job: &j}:
		return true
	default:
		r.dropped.Add(1)
		r.record(&j, "dropped", "queue full")
		return false
	}
}

// allow applies the sliding-window rate limit of s.
func (r *Runner) allow(s *Spec, now time.Time) bool {
	if now.IsZero() {
		now = r.clk.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate.Allow(s, now)
}

// Limiter is the per-action sliding-window rate limit (not safe for
// concurrent use). Replays use it to show what a runner would drop.
type Limiter map[string][]time.Time

// Allow reports whether s may run at now, and counts the run if so.
func (l Limiter) Allow(s *Spec, now time.Time) bool {
	if s.RateN <= 0 {
		return true
	}
	name := s.Name()
	ts := l[name]
	keep := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < s.RatePer && !t.After(now) {
			keep = append(keep, t)
		}
	}
	if len(keep) >= s.RateN {
		l[name] = keep
		return false
	}
	l[name] = append(keep, now)
	return true
}

// record queues a KindAction event; it never blocks.
func (r *Runner) record(j *Job, result, msg string) {
	if r.o.Log == nil {
		return
	}
	ev := edge.Event{Kind: edge.KindAction, Priority: edge.PriorityNormal, Device: j.Device.ID,
		Text: msg, Action: &edge.ActionRecord{Rule: j.Spec.Rule, Output: j.Spec.Output, Result: result, Error: msg}}
	if result == "ok" {
		ev.Action.Error = ""
	}
	select {
	case r.recs <- ev:
	default:
		r.unrecorded.Add(1)
	}
}

// Run starts the output goroutines, restores pending pulses from the state
// store, and returns when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	r.restorePulses()
	var wg sync.WaitGroup
	for name, ch := range r.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.lane(ctx, name, ch)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); r.pulseLoop(ctx) }()
	go func() { defer wg.Done(); r.recorder(ctx) }()
	wg.Wait()
	return nil
}

func (r *Runner) recorder(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.recs:
			if err := r.o.Log.AppendAsync(ev, nil); err != nil {
				r.unrecorded.Add(1)
			}
		}
	}
}

func (r *Runner) lane(ctx context.Context, name string, ch chan item) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-ch:
			func() {
				defer func() {
					if p := recover(); p != nil {
						r.failed.Add(1)
						r.log.Error("action panicked", "output", name, "panic", fmt.Sprint(p))
					}
				}()
				if it.off {
					r.pulseOff(ctx, name)
					return
				}
				r.run(ctx, it.job)
			}()
		}
	}
}

func (r *Runner) run(ctx context.Context, j *Job) {
	s := j.Spec
	op, err := j.Render()
	if err == nil {
		if s.Kind == KindLog {
			r.log.Info("rule action", "rule", s.Rule, "device", j.Device.ID, "alert", j.Alert.ID, "text", op.Text)
		} else {
			err = r.Apply(ctx, s.Output, op)
		}
	}
	if err != nil {
		r.failed.Add(1)
		r.log.Warn("action failed", "action", s.Name(), "output", s.Output, "device", j.Device.ID, "err", err)
		r.record(j, "failed", err.Error())
		return
	}
	r.ok.Add(1)
	if r.o.RecordOK {
		r.record(j, "ok", "")
	}
}

// Apply drives one output once, bounded by the timeout. A pulse is turned
// into set-on now and set-off at a durable deadline.
func (r *Runner) Apply(ctx context.Context, output string, op edge.Op) error {
	out, ok := r.o.Outputs[output]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownOutput, output)
	}
	if op.Kind != edge.OpPulse {
		return r.apply(ctx, output, out, op)
	}
	if op.Duration <= 0 {
		op.Duration = 5 * time.Second
	}
	if err := r.apply(ctx, output, out, edge.Op{Kind: edge.OpSet, On: true, Vars: op.Vars}); err != nil {
		return err
	}
	r.schedulePulse(output, r.clk.Now().Add(op.Duration))
	return nil
}

func (r *Runner) apply(ctx context.Context, name string, out edge.Output, op edge.Op) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout(out))
	defer cancel()
	start := r.clk.Now()
	err := out.Apply(ctx, op)
	if !errors.Is(err, edge.ErrUnsupported) { // a probe of what the output does, not a failure
		r.o.Meter.observe(name, r.clk.Now().Sub(start), err)
	}
	if err != nil {
		return fmt.Errorf("output %q: %s: %w", name, op.Kind, err)
	}
	return nil
}

// timeout bounds one Apply of out: the runner's Timeout, or the output's
// own when it needs longer (edge.ActionTimeouter).
func (r *Runner) timeout(out edge.Output) time.Duration {
	if t, ok := out.(edge.ActionTimeouter); ok && t.ActionTimeout() > r.o.Timeout {
		return t.ActionTimeout()
	}
	return r.o.Timeout
}

// Meter returns the meter that counts this runner's output calls.
func (r *Runner) Meter() *Meter { return r.o.Meter }

// TestPulse is how long Test switches a binary output on.
const TestPulse = time.Second

// Test drives one output once, harmlessly: its own Test if it has one,
// else on for TestPulse and off again (it returns after the off, and
// needs no Run), else, for text outputs, a test message.
func (r *Runner) Test(ctx context.Context, name string) error {
	out, ok := r.o.Outputs[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownOutput, name)
	}
	if t, ok := out.(Tester); ok {
		start := r.clk.Now()
		err := t.Test(ctx)
		r.o.Meter.observe(name, r.clk.Now().Sub(start), err)
		return err
	}
	err := r.apply(ctx, name, out, edge.Op{Kind: edge.OpSet, On: true})
	if errors.Is(err, edge.ErrUnsupported) {
		return r.Apply(ctx, name, edge.Op{Kind: edge.OpSend, Text: "edgegw test", Vars: map[string]string{"message": "edgegw test"}})
	}
	if err != nil {
		return err
	}
	// The off deadline is durable like any pulse's, in case the gateway
	// dies during the test; the pulse loop is not involved (Test works
	// without Run).
	if r.o.State != nil {
		_ = r.o.State.PutState(pulseKey(name), []byte(r.clk.Now().Add(TestPulse).UTC().Format(time.RFC3339Nano)))
	}
	select {
	case <-ctx.Done():
	case <-r.clk.After(TestPulse):
	}
	offCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.Timeout)
	defer cancel()
	if err := r.apply(offCtx, name, out, edge.Op{Kind: edge.OpSet, On: false}); err != nil {
		r.schedulePulse(name, r.clk.Now().Add(retryOff)) // retried by the pulse loop, and after a restart
		return fmt.Errorf("output %q: test: switched on but not off (retrying): %w", name, err)
	}
	r.mu.Lock()
	_, pending := r.pulses[name] // a rule's pulse runs: its deadline stays
	r.mu.Unlock()
	if !pending && r.o.State != nil {
		_ = r.o.State.DeleteState(pulseKey(name))
	}
	return nil
}

// Stats returns the counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	n := len(r.pulses)
	r.mu.Unlock()
	return Stats{Submitted: r.submitted.Load(), OK: r.ok.Load(), Failed: r.failed.Load(),
		Dropped: r.dropped.Load(), RateLimited: r.limited.Load(), Skipped: r.skipped.Load(),
		Unrecorded: r.unrecorded.Load(), Pending: n}
}

// PendingPulses lists outputs with a pending "off", sorted.
func (r *Runner) PendingPulses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ns []string
	for n := range r.pulses {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
