package rules

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
)

// ErrUnknownAlert is returned by Ack for an id that is not active.
var ErrUnknownAlert = errors.New("no active alert with this id")

// Change is one decision of the core: an alert change to append to the log
// (a KindAlert event) and the actions to queue once it is durable.
type Change struct {
	Event edge.Event
	Jobs  []actions.Job
	// Logged: Event is already in the log (an acknowledgement appended by
	// Ack or by the central platform); it is reported, not appended.
	Logged bool
}

// ActiveAlert is an alert that is firing or acknowledged.
type ActiveAlert struct {
	edge.Alert
	Device string    `json:"device"`
	Since  time.Time `json:"since"`
}

// CoreStats are the core's counters.
type CoreStats struct {
	Events        uint64 `json:"events"`         // events looked at
	Evaluations   uint64 `json:"evaluations"`    // expression runs
	RuntimeErrors uint64 `json:"runtime_errors"` // expression runs that failed
	Fired         uint64 `json:"fired"`
	Resolved      uint64 `json:"resolved"`
}

type pairKey struct{ rule, dev string }

type hit struct {
	T   time.Time `json:"t"`
	Seq uint64    `json:"s"`
}

type alertRec struct {
	ID       string          `json:"id"`
	State    edge.AlertState `json:"state"`
	Since    time.Time       `json:"since"`
	Cause    uint64          `json:"cause,omitempty"`
	Severity string          `json:"sev"`
	Message  string          `json:"msg"`
	By       string          `json:"by,omitempty"`
}

// pairState is the durable state of one rule for one device. Times are
// the engine's time (wall clock, never going backwards within a run);
// causes are seqs.
type pairState struct {
	Raw       bool       `json:"raw,omitempty"`
	Eff       bool       `json:"eff,omitempty"` // condition after debounce
	Pend      bool       `json:"pend,omitempty"`
	PendSince time.Time  `json:"pend_since,omitzero"`
	PendSeq   uint64     `json:"pend_seq,omitempty"`
	TrueSince time.Time  `json:"true_since,omitzero"` // start of the `for` timer
	Cause     uint64     `json:"cause,omitempty"`     // seq that made the condition true
	Fired     bool       `json:"fired,omitempty"`     // fired in this true period
	LastFired time.Time  `json:"last_fired,omitzero"`
	Hits      []hit      `json:"hits,omitempty"`
	LastHit   time.Time  `json:"last_hit,omitzero"`
	LastSeen  time.Time  `json:"last_seen,omitzero"`
	LastSeq   uint64     `json:"last_seq,omitempty"`
	Ev        edge.Event `json:"ev,omitzero"` // the event behind the condition, for templates
	Alert     *alertRec  `json:"alert,omitempty"`
	AsOf      uint64     `json:"as_of,omitempty"` // events before it are reflected

	savedSeen time.Time // LastSeen as last persisted
	schedWait time.Time // schedule blocks firing until then
	asOf      uint64    // this state reflects the events before this seq (persisted as AsOf)
}

func (ps *pairState) active() bool { return ps.Alert != nil }

type devState struct {
	dev     edge.Device
	env     *DeviceEnv
	points  map[string]float64
	byPoint map[string][]*rule
	any     []*rule
	stale   []*rule
}

// stepClock is the core's time as an edge.Clock: the time of the step
// being evaluated, since the core takes time as a value. Only the log
// throttle reads it; its After never fires.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                       { return c.now }
func (c *stepClock) After(time.Duration) <-chan time.Time { return nil }

// Core is the pure rule engine: a function of (state, event or tick, now)
// that returns Changes. It does no IO (besides rate-limited logging of
// expression errors) and is not safe for concurrent use.
type Core struct {
	set     *Set
	log     edge.Logger
	devs    map[string]*devState
	pairs   map[pairKey]*pairState
	order   []pairKey
	sorted  bool
	byID    map[string]pairKey
	logged  map[string]*loggedAlert
	dirty   map[pairKey]struct{}
	env     Env
	vm      vm.VM
	next    time.Time
	errs    map[string]uint64 // expression errors per rule
	errLog  edge.LogThrottle  // one line per rule per minute of engine time
	step    stepClock
	stats   CoreStats
	started bool
	// announced windows by device (announce.go)
	ann      map[string]Announcement
	annDirty bool   // not yet in the state store
	annVer   uint64 // bumped on every change, for the engine's copy
}

// NewCore makes a core for set and the gateway's devices.
func NewCore(set *Set, devices []edge.Device, log edge.Logger) *Core {
	if log == nil {
		log = edge.DiscardLogger()
	}
	c := &Core{set: set, log: log, devs: map[string]*devState{}, pairs: map[pairKey]*pairState{},
		byID: map[string]pairKey{}, logged: map[string]*loggedAlert{}, dirty: map[pairKey]struct{}{},
		errs: map[string]uint64{}}
	c.errLog.Log, c.errLog.Interval, c.errLog.Clock = log, time.Minute, &c.step
	c.env.Latest = c.latest
	c.env.Announced = c.announced
	c.env.Event = &EventEnv{}
	for _, d := range devices {
		c.bind(d)
	}
	return c
}

func (c *Core) latest(dev, point string) (float64, error) {
	d := c.devs[dev]
	if d == nil {
		return 0, fmt.Errorf("latest(%q, %q): unknown device", dev, point)
	}
	v, ok := d.points[point]
	if !ok {
		return 0, fmt.Errorf("latest(%q, %q): no value yet", dev, point)
	}
	return v, nil
}

func (c *Core) bind(dev edge.Device) *devState {
	d := &devState{dev: dev, env: newDeviceEnv(dev), points: map[string]float64{}, byPoint: map[string][]*rule{}}
	for _, r := range c.set.candidates(&dev) {
		switch {
		case r.stale:
			d.stale = append(d.stale, r)
		case r.points == nil:
			d.any = append(d.any, r)
		default:
			for p := range r.points {
				d.byPoint[p] = append(d.byPoint[p], r)
			}
		}
	}
	c.devs[dev.ID] = d
	return d
}

func (c *Core) device(id string) *devState {
	if d := c.devs[id]; d != nil {
		return d
	}
	return c.bind(edge.Device{ID: id})
}

func (c *Core) pair(r *rule, dev string) (pairKey, *pairState) {
	k := pairKey{r.name, dev}
	ps := c.pairs[k]
	if ps == nil {
		ps = &pairState{}
		c.pairs[k] = ps
		c.order = append(c.order, k)
		c.sorted = false
	}
	return k, ps
}

func (c *Core) due(t time.Time) {
	if !t.IsZero() && (c.next.IsZero() || t.Before(c.next)) {
		c.next = t
	}
}

// NextDeadline is the earliest time a Tick may change something (zero:
// none). Events may bring it forward.
func (c *Core) NextDeadline() time.Time { return c.next }

// Stats returns the counters.
func (c *Core) Stats() CoreStats { return c.stats }

// Start finishes loading: stale timers of devices never seen start now, and
// (after a restart) silent devices get a full stale period from now rather
// than firing for the time the gateway itself was down.
func (c *Core) Start(now time.Time) {
	c.started = true
	ids := make([]string, 0, len(c.devs))
	for id := range c.devs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := c.devs[id]
		for _, r := range d.stale {
			k, ps := c.pair(r, id)
			if !ps.active() && ps.LastSeen.Before(now) {
				ps.LastSeen, ps.savedSeen = now, now
				c.dirty[k] = struct{}{}
			}
		}
	}
	c.recompute(now)
}

// recompute rebuilds the next deadline from every pair.
func (c *Core) recompute(now time.Time) {
	c.next = time.Time{}
	for k, ps := range c.pairs {
		r := c.set.byName[k.rule]
		if r == nil {
			continue
		}
		c.dueOf(r, ps)
	}
}

// dueOf registers the deadline a pair waits for.
func (c *Core) dueOf(r *rule, ps *pairState) {
	switch {
	case r.stale:
		if !ps.active() && !ps.Fired && r.staleD > 0 {
			c.due(ps.LastSeen.Add(r.staleD))
		}
	case r.countN > 0:
		if !ps.LastHit.IsZero() {
			c.due(ps.LastHit.Add(r.countW))
		}
	default:
		if ps.Pend {
			c.due(ps.PendSince.Add(r.debounce))
		}
		if ps.Eff && !ps.Fired && !ps.active() {
			t := ps.TrueSince.Add(r.forD)
			if r.cooldown > 0 && !ps.LastFired.IsZero() && ps.LastFired.Add(r.cooldown).After(t) {
				t = ps.LastFired.Add(r.cooldown)
			}
			if ps.schedWait.After(t) {
				t = ps.schedWait
			}
			c.due(t)
		}
	}
}

// Event feeds one event of the log. Alert events are not matched (the
// engine's own output) but update the state, which is how a restart
// adopts alerts that were appended just before a crash.
func (c *Core) Event(ev *edge.Event, now time.Time) []Change {
	switch ev.Kind {
	case edge.KindAlert:
		return c.observe(ev, false)
	case edge.KindGap:
		return nil
	case edge.KindAnnounce:
		c.announce(ev, now)
		return nil
	}
	if ev.Device == "" {
		return nil
	}
	c.stats.Events++
	d := c.device(ev.Device)
	if ev.Point != "" && (ev.Kind == edge.KindReading || ev.Kind == edge.KindState) {
		d.points[ev.Point] = ev.Value
	}
	var out []Change
	for _, r := range d.stale {
		out = c.staleEvent(out, r, d, ev, now)
	}
	if len(d.byPoint) == 0 && len(d.any) == 0 {
		return out
	}
	c.fillEnv(d, ev, now)
	if ev.Point != "" {
		for _, r := range d.byPoint[ev.Point] {
			if r.kinds&(1<<ev.Kind) != 0 {
				out = c.eval(out, r, d, ev, now)
			}
		}
	}
	for _, r := range d.any {
		if r.kinds&(1<<ev.Kind) != 0 {
			out = c.eval(out, r, d, ev, now)
		}
	}
	return out
}

func (c *Core) fillEnv(d *devState, ev *edge.Event, now time.Time) {
	q := "bad"
	if int(ev.Quality) < len(qualityNames) {
		q = qualityNames[ev.Quality]
	}
	*c.env.Event = EventEnv{Kind: ev.Kind.String(), Point: ev.Point, Value: ev.Value, Text: ev.Text,
		Unit: ev.Unit, Quality: q, Device: ev.Device, Online: ev.IsOnline(), Seq: ev.Seq, Time: ev.Time}
	c.env.Device = d.env
	c.env.Points = d.points
	c.env.Now = now
}

func (c *Core) run(r *rule, p *vm.Program, d *devState, field string, now time.Time) (bool, bool) {
	c.stats.Evaluations++
	v, err := c.vm.Run(p, &c.env)
	if err == nil {
		if b, ok := v.(bool); ok {
			return b, true
		}
		err = fmt.Errorf("result %T is not a bool", v)
	}
	c.runtimeErr(r, d, field, err, now)
	return false, false
}

// runtimeErr counts an expression error and logs it at most once a minute
// of engine time per rule. The event is not dropped: it stays in the log
// and the rule's state is left as it was.
func (c *Core) runtimeErr(r *rule, d *devState, field string, err error, now time.Time) {
	c.stats.RuntimeErrors++
	c.errs[r.name]++
	c.step.now = now
	c.errLog.Warn(r.name, "rule expression failed", "rule", r.name, "field", r.field+"."+field, "device", d.dev.ID,
		"err", err, "errors_total", c.errs[r.name])
}

// RuntimeErrors returns the count of expression errors per rule.
func (c *Core) RuntimeErrors() map[string]uint64 {
	m := map[string]uint64{}
	for n, e := range c.errs {
		m[n] = e
	}
	return m
}

func (c *Core) eval(out []Change, r *rule, d *devState, ev *edge.Event, now time.Time) []Change {
	k, ps := c.pair(r, d.dev.ID)
	if ev.Seq != 0 && ev.Seq < ps.asOf {
		return out // re-read after a restart, and already in the loaded state
	}
	raw := true
	if r.when != nil {
		var ok bool
		if raw, ok = c.run(r, r.when, d, "when", now); !ok {
			return out
		}
	}
	if raw && r.sched != nil && !r.sched.active(now) {
		raw = false
	}
	if raw {
		ps.Ev = snap(ev)
	}
	if r.countN > 0 {
		return c.countEval(out, r, k, ps, d, raw, ev.Seq, now)
	}
	if ps.active() && r.rmode == resolveExpr {
		if res, ok := c.run(r, r.resolve, d, "resolve", now); ok && res {
			out = c.resolve(out, r, k, ps, d, ev.Seq, now)
		}
	}
	if raw != ps.Raw {
		ps.Raw = raw
		c.dirty[k] = struct{}{}
	}
	if raw && ps.Eff && ps.Fired && !ps.active() && r.rmode != resolveAuto && !ps.Pend {
		// The alert was resolved (acknowledged or by its resolve
		// expression) while the condition held: a new true event is a new
		// incident (a camera that reports FALL again).
		ps.TrueSince, ps.Cause, ps.Fired = now, ev.Seq, false
		c.dirty[k] = struct{}{}
	}
	if r.debounce > 0 {
		switch {
		case raw == ps.Eff:
			if ps.Pend {
				ps.Pend = false
				c.dirty[k] = struct{}{}
			}
		case !ps.Pend:
			ps.Pend, ps.PendSince, ps.PendSeq = true, now, ev.Seq
			c.dirty[k] = struct{}{}
		}
		return c.advance(out, r, k, ps, d, now)
	}
	if raw != ps.Eff {
		out = c.setEff(out, r, k, ps, d, raw, ev.Seq, now, now)
	}
	return c.checkFire(out, r, k, ps, d, now)
}

func snap(ev *edge.Event) edge.Event {
	s := *ev
	s.Alert, s.Gap, s.Action, s.Online = nil, nil, nil, nil
	return s
}

// advance accepts a debounced change once it has held long enough, then
// checks for a firing.
func (c *Core) advance(out []Change, r *rule, k pairKey, ps *pairState, d *devState, now time.Time) []Change {
	if ps.Pend {
		if now.Before(ps.PendSince.Add(r.debounce)) {
			c.due(ps.PendSince.Add(r.debounce))
		} else {
			ps.Pend = false
			out = c.setEff(out, r, k, ps, d, !ps.Eff, ps.PendSeq, ps.PendSince, now)
		}
	}
	return c.checkFire(out, r, k, ps, d, now)
}

func (c *Core) setEff(out []Change, r *rule, k pairKey, ps *pairState, d *devState, eff bool, seq uint64, since, now time.Time) []Change {
	ps.Eff = eff
	c.dirty[k] = struct{}{}
	ps.Fired = false
	ps.schedWait = time.Time{}
	if eff {
		ps.TrueSince, ps.Cause = since, seq
		return out
	}
	ps.TrueSince = time.Time{}
	if ps.active() && r.rmode == resolveAuto {
		out = c.resolve(out, r, k, ps, d, seq, now)
	}
	return out
}

func (c *Core) checkFire(out []Change, r *rule, k pairKey, ps *pairState, d *devState, now time.Time) []Change {
	if !ps.Eff || ps.Fired || ps.active() {
		return out
	}
	if t := ps.TrueSince.Add(r.forD); now.Before(t) {
		c.due(t)
		return out
	}
	if r.cooldown > 0 && !ps.LastFired.IsZero() {
		if t := ps.LastFired.Add(r.cooldown); now.Before(t) {
			c.due(t)
			return out
		}
	}
	if r.sched != nil && !r.sched.active(now) {
		if now.Before(ps.schedWait) {
			c.due(ps.schedWait)
			return out
		}
		if t := r.sched.next(now); !t.IsZero() {
			ps.schedWait = t
			c.due(t)
		}
		return out
	}
	return c.fire(out, r, k, ps, d, ps.Cause, now)
}

func (c *Core) countEval(out []Change, r *rule, k pairKey, ps *pairState, d *devState, raw bool, seq uint64, now time.Time) []Change {
	out = c.countExpire(out, r, k, ps, d, seq, now)
	if !raw {
		return out
	}
	ps.Hits = append(ps.Hits, hit{T: now, Seq: seq})
	if len(ps.Hits) > r.countN {
		ps.Hits = append(ps.Hits[:0], ps.Hits[len(ps.Hits)-r.countN:]...)
	}
	ps.LastHit = now
	c.dirty[k] = struct{}{}
	c.due(now.Add(r.countW))
	if len(ps.Hits) >= r.countN && !ps.active() {
		if r.cooldown > 0 && !ps.LastFired.IsZero() && now.Before(ps.LastFired.Add(r.cooldown)) {
			return out
		}
		if r.sched != nil && !r.sched.active(now) {
			return out
		}
		ps.Hits = ps.Hits[:0]
		out = c.fire(out, r, k, ps, d, seq, now)
	}
	return out
}

// countExpire drops hits that left the window; an active count alert
// resolves (auto) once a whole window passed without a hit.
func (c *Core) countExpire(out []Change, r *rule, k pairKey, ps *pairState, d *devState, seq uint64, now time.Time) []Change {
	i := 0
	for i < len(ps.Hits) && now.Sub(ps.Hits[i].T) >= r.countW {
		i++
	}
	if i > 0 {
		ps.Hits = append(ps.Hits[:0], ps.Hits[i:]...)
		c.dirty[k] = struct{}{}
	}
	if !ps.LastHit.IsZero() && now.Sub(ps.LastHit) >= r.countW {
		ps.LastHit = time.Time{}
		c.dirty[k] = struct{}{}
		if ps.active() && r.rmode == resolveAuto {
			out = c.resolve(out, r, k, ps, d, seq, now)
		}
	} else if !ps.LastHit.IsZero() {
		c.due(ps.LastHit.Add(r.countW))
	}
	return out
}

func (c *Core) staleEvent(out []Change, r *rule, d *devState, ev *edge.Event, now time.Time) []Change {
	if r.kinds&(1<<ev.Kind) == 0 {
		return out
	}
	if ev.Kind != edge.KindStatus && r.points != nil && !r.points[ev.Point] {
		return out
	}
	k, ps := c.pair(r, d.dev.ID)
	if ev.Seq != 0 && ev.Seq < ps.asOf {
		return out
	}
	if ev.Kind == edge.KindStatus && !ev.IsOnline() {
		if r.offline && !ps.active() {
			ps.Ev = snap(ev)
			out = c.fire(out, r, k, ps, d, ev.Seq, now)
		}
		return out // an offline report is not data
	}
	ps.LastSeen, ps.LastSeq = now, ev.Seq
	if ps.Fired || ps.active() || now.Sub(ps.savedSeen) >= r.staleD/4 || ps.savedSeen.After(now) {
		ps.savedSeen = now
		c.dirty[k] = struct{}{}
	}
	ps.Fired = false
	if ps.active() && r.rmode == resolveAuto {
		ps.Ev = snap(ev)
		out = c.resolve(out, r, k, ps, d, ev.Seq, now)
	}
	if r.staleD > 0 {
		c.due(now.Add(r.staleD))
	}
	return out
}

// Tick runs the timers (for, debounce, cooldown, schedule, count windows,
// stale) up to now. Pairs are visited in rule order, then device id, so
// traces are deterministic.
func (c *Core) Tick(now time.Time) []Change {
	if !c.sorted {
		idx := func(k pairKey) int {
			if r := c.set.byName[k.rule]; r != nil {
				return r.idx
			}
			return -1
		}
		sort.Slice(c.order, func(i, j int) bool {
			a, b := c.order[i], c.order[j]
			if ia, ib := idx(a), idx(b); ia != ib {
				return ia < ib
			}
			return a.dev < b.dev
		})
		c.sorted = true
	}
	c.next = time.Time{}
	c.pruneAnnounce(now)
	var out []Change
	for _, k := range c.order {
		r := c.set.byName[k.rule]
		if r == nil {
			continue
		}
		ps := c.pairs[k]
		d := c.device(k.dev)
		switch {
		case r.stale:
			if !ps.active() && !ps.Fired && r.staleD > 0 && !now.Before(ps.LastSeen.Add(r.staleD)) {
				ps.Ev = edge.Event{Kind: edge.KindStatus, Device: k.dev, Time: now,
					Text: "no data for " + r.staleD.String()}
				out = c.fire(out, r, k, ps, d, ps.LastSeq, now)
			}
		case r.countN > 0:
			out = c.countExpire(out, r, k, ps, d, 0, now)
		default:
			out = c.advance(out, r, k, ps, d, now)
		}
		c.dueOf(r, ps)
	}
	return out
}

func alertID(rule, dev string, cause uint64) string {
	return fmt.Sprintf("%s/%s/%d", rule, dev, cause)
}

type msgData struct {
	Rule     string
	Severity string
	Device   edge.Device
	Event    edge.Event
}

func (c *Core) fire(out []Change, r *rule, k pairKey, ps *pairState, d *devState, cause uint64, now time.Time) []Change {
	ps.Fired, ps.LastFired = true, now
	c.dirty[k] = struct{}{}
	id := alertID(r.name, d.dev.ID, cause)
	if rec := c.logged[id]; rec != nil {
		// In the log already (appended before a restart): adopt it as the
		// log has it, without raising it again.
		// It is adopted as it was when raised; its acknowledgement and
		// resolution are re-read or re-evaluated in order after it (and
		// not appended again).
		rec.adopted = true
		ps.Alert = &alertRec{ID: id, State: edge.AlertFiring, Since: rec.since, Cause: cause, Severity: rec.alert.Severity,
			Message: rec.alert.Message}
		c.byID[id] = k
		return out
	}
	var b bytes.Buffer
	msg := ""
	if err := r.msg.Execute(&b, msgData{Rule: r.name, Severity: r.severity, Device: d.dev, Event: ps.Ev}); err != nil {
		msg = fmt.Sprintf("%s on %s (message template: %v)", r.name, d.dev.ID, err)
	} else {
		msg = b.String()
	}
	ps.Alert = &alertRec{ID: id, State: edge.AlertFiring, Since: now, Cause: cause, Severity: r.severity, Message: msg}
	c.byID[id] = k
	c.stats.Fired++
	return append(out, c.change(r, d, ps, *ps.Alert, now))
}

func (c *Core) resolve(out []Change, r *rule, k pairKey, ps *pairState, d *devState, cause uint64, now time.Time) []Change {
	a := *ps.Alert
	ps.Alert = nil
	delete(c.byID, a.ID)
	c.dirty[k] = struct{}{}
	if rec := c.logged[a.ID]; rec != nil {
		// Re-evaluation got to this alert's end: EndRecovery must not
		// bring it back (the loaded state may have had it, so fire never
		// adopted it). The log has the resolution already, or gets it now.
		rec.adopted = true
		if rec.state == edge.AlertResolved {
			return out
		}
		rec.state = edge.AlertResolved
	}
	a.State = edge.AlertResolved
	if cause != 0 {
		a.Cause = cause
	}
	c.stats.Resolved++
	return append(out, c.change(r, d, ps, a, now))
}

func (c *Core) change(r *rule, d *devState, ps *pairState, a alertRec, now time.Time) Change {
	al := edge.Alert{ID: a.ID, Rule: r.name, State: a.State, Severity: a.Severity, Message: a.Message, By: a.By, Cause: a.Cause}
	ch := Change{Event: edge.Event{Kind: edge.KindAlert, Priority: edge.PriorityAlert, Time: now,
		Device: d.dev.ID, Text: a.Message, Alert: &al}}
	for _, s := range r.actions {
		if (a.State == edge.AlertFiring && s.OnFire) || (a.State == edge.AlertResolved && !s.OnFire) {
			ch.Jobs = append(ch.Jobs, actions.Job{Spec: s, Alert: al, Device: d.dev, Event: ps.Ev, Time: now})
		}
	}
	return ch
}

// AckEvent validates an acknowledgement and returns the event that records
// it, to append to the log. The state changes when the engine reads that
// event back in log order (so a replay of the log, and a restart, see the
// same thing). ok is false when the alert is already acknowledged.
func (c *Core) AckEvent(id, by string, now time.Time) (ev edge.Event, ok bool, err error) {
	k, found := c.byID[id]
	ps := c.pairs[k]
	if !found || ps == nil || ps.Alert == nil || c.set.byName[k.rule] == nil {
		return ev, false, fmt.Errorf("ack %q: %w", id, ErrUnknownAlert)
	}
	if ps.Alert.State == edge.AlertAcknowledged {
		return ev, false, nil
	}
	a := *ps.Alert
	a.State, a.By = edge.AlertAcknowledged, by
	return c.change(c.set.byName[k.rule], c.device(k.dev), ps, a, now).Event, true, nil
}

// IsActive reports whether id is an active alert.
func (c *Core) IsActive(id string) bool {
	_, ok := c.byID[id]
	return ok
}

// Ack acknowledges an active alert at once (AckEvent, then applying it):
// for tools and tests that have no log. A rule with resolve: ack resolves
// it too.
func (c *Core) Ack(id, by string, now time.Time) ([]Change, error) {
	ev, ok, err := c.AckEvent(id, by, now)
	if err != nil || !ok {
		return nil, err
	}
	ev.Time = now
	return c.observe(&ev, false), nil
}

// observe applies an alert event read from the log. recovering marks the
// events appended after the cursor before a restart: their ids are
// remembered so that re-evaluating the events before them does not raise
// the same alert again. An acknowledgement read in order (not recovering)
// returns its change (Logged) and, for resolve: ack, the resolution.
func (c *Core) observe(ev *edge.Event, recovering bool) []Change {
	a := ev.Alert
	if a == nil {
		return nil
	}
	r := c.set.byName[a.Rule]
	if r == nil {
		return nil
	}
	if recovering {
		rec := c.logged[a.ID]
		if rec == nil {
			rec = &loggedAlert{alert: *a, dev: ev.Device, since: ev.Time}
			c.logged[a.ID] = rec
		}
		rec.state = a.State
		if a.By != "" {
			rec.by = a.By
		}
		if k, ok := c.byID[a.ID]; ok && k.dev == ev.Device && k.rule == a.Rule {
			// The loaded state has it already (its cause was before the
			// state's mark): it is not forgotten.
			rec.adopted = true
		}
		return nil // applied when the events before it are re-evaluated (or at EndRecovery)
	}
	k, ps := c.pair(r, ev.Device)
	if ev.Seq != 0 && ev.Seq < ps.asOf {
		return nil // already in the loaded state
	}
	switch a.State {
	case edge.AlertFiring, edge.AlertAcknowledged:
		if ps.Alert != nil && ps.Alert.ID == a.ID {
			var out []Change
			if ps.Alert.State != a.State && a.State == edge.AlertAcknowledged {
				ps.Alert.State, ps.Alert.By = a.State, a.By
				c.dirty[k] = struct{}{}
				if !recovering {
					ch := c.change(r, c.device(ev.Device), ps, *ps.Alert, ev.Time)
					ch.Logged = true
					out = append(out, ch)
				}
			}
			if a.State == edge.AlertAcknowledged && r.rmode == resolveAck && !recovering {
				out = c.resolve(out, r, k, ps, c.device(ev.Device), 0, ev.Time)
				// A condition that rose again while the alert was active
				// fires now, in log order, not at whichever timer tick
				// comes first (which a restart or a replay would not
				// reproduce).
				out = c.checkFire(out, r, k, ps, c.device(ev.Device), ev.Time)
			}
			return out
		}
		if !recovering || a.State != edge.AlertFiring {
			return nil // not ours, or an ack of an alert no longer active
		}
		ps.Alert = &alertRec{ID: a.ID, State: a.State, Since: ev.Time, Cause: a.Cause, Severity: a.Severity, Message: a.Message, By: a.By}
		ps.Fired = true
		c.byID[a.ID] = k
		c.dirty[k] = struct{}{}
	case edge.AlertResolved:
		if ps.Alert != nil && ps.Alert.ID == a.ID {
			if rec := c.logged[a.ID]; rec != nil {
				rec.adopted = true
			}
			ps.Alert = nil
			delete(c.byID, a.ID)
			c.dirty[k] = struct{}{}
		}
	}
	return nil
}

// Recover applies an alert event appended after the rules cursor (before a
// crash) ahead of re-evaluating the events that led to it.
func (c *Core) Recover(ev *edge.Event) {
	if ev.Kind == edge.KindAlert {
		c.observe(ev, true)
	}
}

// loggedAlert is an alert found in the log after the cursor at a restart.
type loggedAlert struct {
	alert edge.Alert // as first logged
	dev   string
	since time.Time
	state edge.AlertState // the last state logged, or resolved once re-evaluation resolved it
	by    string
	// adopted: this run's state has accounted for the alert (loaded with
	// it, raised it again, or resolved it), so EndRecovery leaves it alone.
	adopted bool
}

// EndRecovery runs once the engine has re-read every event that was in the
// log at the restart. An active alert of the log that re-evaluation did not
// raise again (its cause depended on something not kept, such as another
// device's latest value) is adopted now rather than forgotten; then the
// recovered ids are dropped.
func (c *Core) EndRecovery() {
	ids := make([]string, 0, len(c.logged))
	for id := range c.logged {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := c.logged[id]
		r := c.set.byName[rec.alert.Rule]
		if r == nil {
			continue
		}
		k, ps := c.pair(r, rec.dev)
		if rec.state == edge.AlertResolved {
			if ps.Alert != nil && ps.Alert.ID == id {
				// The log says it was resolved; re-evaluation did not get
				// there (it depended on something not kept). Follow the log.
				ps.Alert = nil
				delete(c.byID, id)
				c.dirty[k] = struct{}{}
			}
			continue
		}
		if rec.adopted || ps.Alert != nil {
			continue
		}
		ps.Alert = &alertRec{ID: id, State: rec.state, Since: rec.since, Cause: rec.alert.Cause,
			Severity: rec.alert.Severity, Message: rec.alert.Message, By: rec.by}
		ps.Fired = true
		c.byID[id] = k
		c.dirty[k] = struct{}{}
	}
	clear(c.logged)
}

// Active lists the active alerts, oldest first.
func (c *Core) Active() []ActiveAlert {
	var out []ActiveAlert
	for id, k := range c.byID {
		ps := c.pairs[k]
		if ps == nil || ps.Alert == nil {
			continue
		}
		a := ps.Alert
		out = append(out, ActiveAlert{Alert: edge.Alert{ID: id, Rule: k.rule, State: a.State, Severity: a.Severity,
			Message: a.Message, By: a.By, Cause: a.Cause}, Device: k.dev, Since: a.Since})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
