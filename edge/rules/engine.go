package rules

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
)

// Submitter queues actions; *actions.Runner implements it. Submit must
// not block.
type Submitter interface {
	Submit(j actions.Job) bool
}

// Options configure an Engine.
type Options struct {
	Set     *Set
	Devices []edge.Device
	Log     edge.Log
	// State keeps the rule state across restarts. Required for a gateway;
	// nil keeps state in memory only.
	State   edge.StateStore
	Clock   edge.Clock  // default: the system clock
	Logger  edge.Logger // default: discard
	Actions Submitter   // nil: actions are not run
	// Tick is the period of timer checks when no deadline is nearer.
	// Default: 1s.
	Tick time.Duration
	// Batch is how many events are read from the log at once. Default: 512.
	Batch int
	// Checkpoint is how often the rule state and the cursor are written.
	// A crash re-evaluates at most this much of the log. Default: 1s.
	Checkpoint time.Duration
}

// Stats are what the status page shows of the rule engine.
type Stats struct {
	CoreStats
	Rules   int    `json:"rules"`
	Cursor  uint64 `json:"cursor"` // the events before it are evaluated
	Saved   uint64 `json:"saved"`  // the durable cursor
	Lag     uint64 `json:"lag"`    // events in the log not yet evaluated
	Active  int    `json:"active_alerts"`
	Retries uint64 `json:"retries"` // failed appends/state writes retried
}

// Engine is the IO side of the rules: the one goroutine that consumes the
// log through the durable "rules" cursor, feeds the Core, appends the
// alert changes durably, persists the rule state and only then advances
// the cursor. After a crash it re-evaluates the events after the cursor;
// alert changes already in the log are adopted, not raised again.
type Engine struct {
	o     Options
	log   edge.Logger
	clk   edge.Clock
	core  *Core
	state *stateStore
	reqs  chan func()

	done     uint64        // the events before it are evaluated
	lastSave time.Time     // engine time of the last checkpoint
	ckptIdle chan struct{} // holds a token while no checkpoint is being written
	base     time.Time     // engine time at baseRead
	baseRead time.Time     // clock reading with its monotonic part
	lastNow  time.Time

	errLog  edge.LogThrottle // failed steps, once per step per 10s
	annSeen uint64           // the core's annVer last published

	mu      sync.Mutex
	ann     []Announcement
	active  []ActiveAlert
	stats   Stats
	running bool
	changed chan struct{} // closed and replaced when stats or active alerts change
}

// New loads the rule state and makes an engine; Run starts it.
func New(o Options) (*Engine, error) {
	if o.Set == nil || o.Log == nil {
		return nil, errors.New("rules: engine needs a rule set and a log")
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = edge.DiscardLogger()
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Checkpoint <= 0 {
		o.Checkpoint = time.Second
	}
	e := &Engine{o: o, log: o.Logger, clk: o.Clock, reqs: make(chan func()), ckptIdle: make(chan struct{}, 1),
		changed: make(chan struct{})}
	e.errLog.Log, e.errLog.Interval, e.errLog.Clock = o.Logger, 10*time.Second, o.Clock
	e.ckptIdle <- struct{}{}
	if err := e.reset(o.Set, o.Devices); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) reset(set *Set, devices []edge.Device) error {
	core := NewCore(set, devices, e.log)
	st := newStateStore(e.o.State)
	last, err := st.load(core)
	if err != nil {
		return err
	}
	// Engine time follows the monotonic clock from here, so a wall clock
	// jump does not fire or stall timers; it never goes back before what a
	// previous run recorded.
	e.baseRead = e.clk.Now()
	e.base = e.baseRead.Round(0)
	if e.lastNow.After(last) {
		last = e.lastNow
	}
	if last.After(e.base) {
		e.base = last
	}
	e.core, e.state = core, st
	e.annSeen = ^uint64(0) // publish the new core's windows
	e.publish()
	e.publishAnnounce()
	return nil
}

// now is the engine's time.
func (e *Engine) now() time.Time {
	t := e.base.Add(e.clk.Now().Sub(e.baseRead))
	if t.Before(e.lastNow) {
		t = e.lastNow
	}
	e.lastNow = t
	return t
}

// Run consumes the log until ctx ends. It returns nil on cancellation and
// an error only when the log itself fails.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("rules: engine already running")
	}
	e.running = true
	e.mu.Unlock()
	defer func() { e.mu.Lock(); e.running = false; e.mu.Unlock() }()

	cursor, err := e.o.Log.Cursor(edge.CursorRules)
	if err != nil {
		return fmt.Errorf("rules: read cursor: %w", err)
	}
	recoverUntil, err := e.recover(cursor)
	if err != nil {
		return err
	}
	e.core.Start(e.now())
	e.done = cursor
	e.mu.Lock()
	e.stats.Saved = cursor
	e.notifyLocked()
	e.mu.Unlock()
	if err := e.checkpointSync(ctx); err != nil {
		return err
	}
	defer func() {
		// A last checkpoint on the way out, so a clean restart re-reads
		// nothing.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := e.checkpointSync(cctx); err != nil {
			e.log.Warn("rule state not saved on stop", "err", err)
		}
	}()
	nextTick := e.now().Add(e.o.Tick)
	for {
		if ctx.Err() != nil {
			return nil
		}
		evs, err := e.o.Log.Read(cursor, e.o.Batch)
		if err != nil {
			return fmt.Errorf("rules: read log at %d: %w", cursor, err)
		}
		if len(evs) > 0 {
			now := e.now()
			var changes []Change
			for i := range evs {
				changes = append(changes, e.core.Event(&evs[i], now)...)
			}
			next := evs[len(evs)-1].Seq + 1
			if err := e.commit(ctx, changes, next); err != nil {
				return err
			}
			cursor = next
			if recoverUntil != 0 && cursor > recoverUntil {
				e.core.EndRecovery()
				recoverUntil = 0
			}
			if len(evs) == e.o.Batch {
				continue
			}
		}
		now := e.now()
		if d := e.core.NextDeadline(); !now.Before(nextTick) || (!d.IsZero() && !now.Before(d)) {
			if err := e.commit(ctx, e.core.Tick(now), cursor); err != nil {
				return err
			}
			nextTick = now.Add(e.o.Tick)
		}
		wait := nextTick.Sub(now)
		if d := e.core.NextDeadline(); !d.IsZero() && d.Sub(now) < wait {
			wait = d.Sub(now)
		}
		if e.done > e.lastSavedDone() {
			if d := e.lastSave.Add(e.o.Checkpoint).Sub(now); d < wait {
				if d <= 0 {
					if err := e.checkpoint(ctx); err != nil {
						return err
					}
					continue
				}
				wait = d
			}
		}
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.o.Log.Wait(cursor - 1):
		case f := <-e.reqs:
			f()
		case <-e.clk.After(wait):
		}
	}
}

// recover applies the alert changes appended after the cursor (by a run
// that crashed before moving it) so that re-evaluation adopts them.
func (e *Engine) recover(cursor uint64) (uint64, error) {
	last := e.o.Log.LastSeq()
	if last < cursor {
		return 0, nil
	}
	for from := cursor; from <= last; {
		evs, err := e.o.Log.ReadPriority(from, edge.PriorityAlert, 1024)
		if err != nil {
			return 0, fmt.Errorf("rules: recover alerts: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for i := range evs {
			if evs[i].Seq > last {
				break
			}
			e.core.Recover(&evs[i])
		}
		from = evs[len(evs)-1].Seq + 1
	}
	return last, nil
}

// commit finishes a step: the actions are queued, the alert changes
// appended (durable), and the step counted as evaluated. The rule state and the cursor are checkpointed every
// Options.Checkpoint: a crash re-reads at most that much of the log, and
// re-reading is safe (alerts already in the log are adopted, not raised
// again; a state shard knows which events it reflects).
func (e *Engine) commit(ctx context.Context, changes []Change, next uint64) error {
	// Actions are queued first: the events behind them are durable
	// already, so the decision is reproducible, and an alarm must not wait
	// for a second fsync. After a crash before the alert is durable the
	// events are evaluated again and the actions repeated: actions are
	// at-least-once, alerts exactly once.
	if e.o.Actions != nil {
		for i := range changes {
			for _, j := range changes[i].Jobs {
				e.o.Actions.Submit(j)
			}
		}
	}
	var evs []edge.Event
	for i := range changes {
		if !changes[i].Logged {
			evs = append(evs, changes[i].Event)
		}
	}
	if len(evs) > 0 {
		if err := e.retry(ctx, "append alerts", func() (err error) {
			_, err = e.o.Log.Append(ctx, evs...)
			return err
		}); err != nil {
			return err
		}
	}
	if next > e.done {
		e.done = next
	}
	if len(changes) > 0 {
		e.publish()
	}
	e.publishAnnounce()
	st := e.core.Stats()
	e.mu.Lock()
	e.stats.CoreStats = st
	e.stats.Cursor = e.done
	e.notifyLocked()
	e.mu.Unlock()
	if e.now().Sub(e.lastSave) >= e.o.Checkpoint || e.done-e.lastSavedDone() >= 20000 {
		return e.checkpoint(ctx)
	}
	return nil
}

func (e *Engine) lastSavedDone() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats.Saved
}

// checkpoint hands the changed rule state and the evaluated position to
// the writer goroutine, which stores the state and then moves the cursor,
// so that the engine never waits for the state store. While a checkpoint
// is being written the next one waits (the changes stay marked).
func (e *Engine) checkpoint(ctx context.Context) error {
	select {
	case <-e.ckptIdle:
	default:
		// The writer is busy; try again shortly.
		e.lastSave = e.now().Add(20*time.Millisecond - e.o.Checkpoint)
		return nil
	}
	kvs, done, err := e.snapshotState()
	if err != nil {
		e.ckptIdle <- struct{}{}
		return err
	}
	e.lastSave = e.now()
	go func() {
		defer func() { e.ckptIdle <- struct{}{} }()
		e.writeCheckpoint(ctx, kvs, done)
	}()
	return nil
}

// checkpointSync writes a checkpoint and waits for it (on stop, on reload).
func (e *Engine) checkpointSync(ctx context.Context) error {
	select {
	case <-e.ckptIdle:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { e.ckptIdle <- struct{}{} }()
	kvs, done, err := e.snapshotState()
	if err != nil {
		return err
	}
	e.lastSave = e.now()
	return e.writeCheckpoint(ctx, kvs, done)
}

func (e *Engine) snapshotState() ([]kv, uint64, error) {
	if err := e.state.take(e.core, e.done); err != nil {
		return nil, 0, fmt.Errorf("rules: encode state: %w", err)
	}
	kvs, err := e.state.snapshot(e.lastNow, e.done)
	if err != nil {
		return nil, 0, fmt.Errorf("rules: encode state: %w", err)
	}
	return kvs, e.done, nil
}

func (e *Engine) writeCheckpoint(ctx context.Context, kvs []kv, done uint64) error {
	if err := e.retry(ctx, "write rule state", func() error { return e.state.write(kvs) }); err != nil {
		return err
	}
	e.mu.Lock()
	saved := e.stats.Saved
	e.mu.Unlock()
	if done > saved {
		if err := e.retry(ctx, "move rules cursor", func() error { return e.o.Log.SetCursor(edge.CursorRules, done) }); err != nil {
			return err
		}
		e.mu.Lock()
		e.stats.Saved = done
		e.notifyLocked()
		e.mu.Unlock()
	}
	return nil
}

// retry runs f until it succeeds, the log is closed or ctx ends, backing
// off from 100ms to 1s between attempts.
func (e *Engine) retry(ctx context.Context, what string, f func() error) error {
	b := edge.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Clock: e.clk}
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, edge.ErrClosed) || ctx.Err() != nil {
			return fmt.Errorf("rules: %s: %w", what, err)
		}
		e.mu.Lock()
		e.stats.Retries++
		e.notifyLocked()
		e.mu.Unlock()
		e.errLog.Error(what, "rule engine step failed, retrying", "step", what, "err", err)
		if b.Wait(ctx) != nil {
			return fmt.Errorf("rules: %s: %w", what, err)
		}
	}
}

func (e *Engine) publish() {
	act := e.core.Active()
	st := e.core.Stats()
	e.mu.Lock()
	e.active = act
	e.stats.CoreStats = st
	e.stats.Active = len(act)
	e.stats.Rules = e.core.set.Len()
	e.notifyLocked()
	e.mu.Unlock()
}

// notifyLocked wakes those waiting on Changed; e.mu is held.
func (e *Engine) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Changed returns a channel closed the next time the engine's stats or
// active alerts change (an event evaluated, an alert changed, a checkpoint
// written). Ack waits on it; so can a test.
func (e *Engine) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// do runs f on the engine goroutine.
func (e *Engine) do(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	select {
	case e.reqs <- func() { done <- f() }:
	case <-ctx.Done():
		return fmt.Errorf("rules: engine busy or not running: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ack acknowledges an active alert (the status page's button, a central
// command); by names who did it ("local:admin", "central:op7"). The change
// is an event in the log. It fails with ErrUnknownAlert for an id that is
// not active, and when the engine is not running.
func (e *Engine) Ack(id, by string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seq uint64
	err := e.do(ctx, func() error {
		// The acknowledgement takes effect when the engine reads it back
		// from the log, in order with the events around it.
		ev, ok, err := e.core.AckEvent(id, by, e.now())
		if err != nil || !ok {
			return err
		}
		return e.retry(ctx, "append acknowledgement", func() error {
			out, err := e.o.Log.Append(ctx, ev)
			if err == nil {
				seq = out[0].Seq
			}
			return err
		})
	})
	if err != nil || seq == 0 {
		return err
	}
	// Return once it is applied, so that a page reloaded after the button
	// shows it (the engine is normally milliseconds behind the log). It is
	// durable already: past the timeout it is applied later, not lost.
	for {
		e.mu.Lock()
		applied, changed := e.stats.Cursor > seq, e.changed
		e.mu.Unlock()
		if applied {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// Reload swaps in a new rule set (and device list) without losing events
// or state: state is kept by rule name, so unchanged rules carry on.
func (e *Engine) Reload(ctx context.Context, set *Set, devices []edge.Device) error {
	return e.do(ctx, func() error {
		if err := e.checkpointSync(ctx); err != nil {
			return err
		}
		if err := e.reset(set, devices); err != nil {
			return err
		}
		e.core.Start(e.now())
		return nil
	})
}

// Active lists the active alerts, oldest first.
func (e *Engine) Active() []ActiveAlert {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ActiveAlert(nil), e.active...)
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	s := e.stats
	e.mu.Unlock()
	if last := e.o.Log.LastSeq(); last+1 > s.Cursor && s.Cursor > 0 {
		s.Lag = last + 1 - s.Cursor
	}
	return s
}
