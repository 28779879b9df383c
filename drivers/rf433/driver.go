// Package rf433 reads 433 MHz wireless door contacts (EV1527 / PT2262
// senders) through the UART decoder boards that print their codes, the
// Sonoff RF Bridge, or rtl_433's JSON output, maps each code to a device
// and a state (open, close, tamper, low battery) and reports a contact
// that stays silent past its supervision time as offline.
package rf433

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

func init() {
	edge.RegisterDriver("rf433", New)
}

// Driver is one receiver (decoder board, RF bridge or rtl_433) and the
// contacts it hears.
type Driver struct {
	name    string
	log     *slog.Logger
	clock   edge.Clock
	opts    Options
	devices []edge.Device
	mapper  *mapper
	rx      *receiver

	emitMu sync.Mutex // one handler at a time: signals and supervision

	mu      sync.Mutex
	unknown uint64 // codes no device claims
	devs    []devState
}

type devState struct {
	frames    uint64
	errors    uint64
	lastErr   string
	lastErrAt time.Time
	lastSeen  time.Time
	known     bool // online state reported
	online    bool
	byRx      bool   // offline because the receiver is gone (not silence)
	battery   string // "low", "ok" or "" (unknown)
}

// New is the "rf433" input driver's factory.
func New(env edge.Env, opts edge.Options) (edge.Driver, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return NewDriver(env, o, opts.Errorf)
}

// NewDriver builds a driver from decoded options; ef names a bad field
// (nil: plain errors).
func NewDriver(env edge.Env, o Options, ef func(field, format string, args ...any) error) (*Driver, error) {
	if ef == nil {
		ef = plainErrorf
	}
	o.Defaults()
	if err := o.Validate(ef); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	clock := env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	d := &Driver{name: env.Name, clock: clock, opts: o, mapper: newMapper(&o), devs: make([]devState, len(o.Devices))}
	rx, err := newReceiver(&d.opts, clock, log)
	if err != nil {
		return nil, ef("format", "%v", err)
	}
	d.log = log.With("source", rx.source())
	d.rx = rx
	for _, dc := range o.Devices {
		d.devices = append(d.devices, edge.Device{ID: dc.ID, Location: dc.Location, Tags: dc.Tags, Type: dc.Type, Driver: env.Name})
	}
	return d, nil
}

// Devices lists the contacts.
func (d *Driver) Devices() []edge.Device { return append([]edge.Device(nil), d.devices...) }

// Stats reports each contact's counters; the receiver's own (garbage,
// overlong lines, reconnects, read errors, unknown codes) are shown on
// every contact.
func (d *Driver) Stats() []edge.DeviceStats {
	d.rx.mu.Lock()
	g, o, e, rc, le, lat := d.rx.garbage, d.rx.overlong, d.rx.errors, d.rx.reconnects, d.rx.lastError, d.rx.lastErrAt
	d.rx.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]edge.DeviceStats, 0, len(d.devices))
	for i, dev := range d.devices {
		s := &d.devs[i]
		last := s.lastErr
		if lat.After(s.lastErrAt) {
			last = le
		}
		out = append(out, edge.DeviceStats{Device: dev.ID, Frames: s.frames, Garbage: g + d.unknown, Overlong: o,
			Errors: e + s.errors, Reconnects: rc, LastError: last})
	}
	return out
}

// Run listens until ctx ends. A lost receiver marks every contact offline
// and is reopened with backoff; a contact silent for the supervision time
// goes offline on its own and comes back with its next signal.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if sv := d.opts.Supervision.D(); sv > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.supervise(ctx, sink, sv)
		}()
	}
	err := d.rx.run(ctx, hooks{
		up:   func(reason string) { d.receiverUp(sink, reason) },
		down: func(reason string) { d.receiverDown(sink, reason) },
		signal: func(s Signal, now time.Time) {
			d.handle(sink, s, now)
		},
	})
	cancel()
	wg.Wait()
	return err
}

// supervise checks for silent contacts a dozen times per supervision time
// (at least once a minute).
func (d *Driver) supervise(ctx context.Context, sink edge.Sink, sv time.Duration) {
	every := min(sv/12, time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(every):
		}
		d.checkSilence(sink, d.clock.Now())
	}
}

func (d *Driver) checkSilence(sink edge.Sink, now time.Time) {
	sv := d.opts.Supervision.D()
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	for i := range d.devs {
		d.mu.Lock()
		s := &d.devs[i]
		silent := s.known && s.online && now.Sub(s.lastSeen) >= sv
		d.mu.Unlock()
		if silent {
			d.setOnline(sink, i, false, false, fmt.Sprintf("no signal for %v (supervision)", sv), now)
		}
	}
}

func (d *Driver) receiverUp(sink edge.Sink, reason string) {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	now := d.clock.Now()
	for i := range d.devs {
		d.mu.Lock()
		s := d.devs[i]
		d.mu.Unlock()
		// A contact that went silent stays offline until it is heard; one
		// that was offline only because the receiver was gone comes back,
		// and its supervision time starts now.
		if !s.known || s.byRx {
			d.setOnline(sink, i, true, false, reason, now)
		}
	}
}

func (d *Driver) receiverDown(sink edge.Sink, reason string) {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	now := d.clock.Now()
	for i := range d.devs {
		d.mu.Lock()
		s := d.devs[i]
		d.mu.Unlock()
		if !s.known || s.online {
			d.setOnline(sink, i, false, true, reason, now)
		}
	}
}

// setOnline records and reports a contact's online state; emitMu is held.
func (d *Driver) setOnline(sink edge.Sink, i int, on, byRx bool, reason string, now time.Time) {
	d.mu.Lock()
	s := &d.devs[i]
	changed := !s.known || s.online != on
	s.known, s.online, s.byRx = true, on, byRx && !on
	if on {
		s.lastSeen = now
	}
	d.mu.Unlock()
	if !changed {
		return
	}
	id := d.devices[i].ID
	if on {
		d.log.Info("device online", "device", id, "reason", reason)
	} else {
		d.log.Warn("device offline", "device", id, "reason", reason)
	}
	d.emit(sink, i, edge.DeviceStatus(id, on, reason))
}

// handle maps one (collapsed) signal to its contact and its events.
func (d *Driver) handle(sink edge.Sink, s Signal, now time.Time) {
	i, states := d.mapper.lookup(s)
	if i < 0 {
		d.mu.Lock()
		d.unknown++
		d.mu.Unlock()
		d.rx.throttle.Warn("unknown", "rf433 code of no configured device", "code", s.ID, "address", s.Address(), "key", s.Key())
		return
	}
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	d.mu.Lock()
	st := &d.devs[i]
	st.frames++
	st.lastSeen = now
	back := !st.online
	d.mu.Unlock()
	if back {
		d.setOnline(sink, i, true, false, "signal again", now)
	}
	dc := &d.opts.Devices[i]
	for _, state := range states {
		if ev, ok := d.event(i, dc, state); ok {
			d.emit(sink, i, ev)
		}
	}
}

// event is the event of one state of contact i; ok is false for a state
// that only says the contact is alive (heartbeat, an unchanged battery).
func (d *Driver) event(i int, dc *DeviceOptions, state string) (edge.Event, bool) {
	id := dc.ID
	switch state {
	case StateOpen:
		return edge.StateChange(id, dc.Point, "open", 1), true
	case StateClose:
		return edge.StateChange(id, dc.Point, "closed", 0), true
	case StateTamper:
		return edge.StateChange(id, "tamper", "tamper", 1), true
	case StateLowBattery, StateBatteryOK:
		b := "low"
		if state == StateBatteryOK {
			b = "ok"
		}
		d.mu.Lock()
		prev := d.devs[i].battery
		d.devs[i].battery = b
		d.mu.Unlock()
		// Reported on a change only: rtl_433 lines carry battery_ok every
		// time, and an "ok" nobody asked about is noise.
		if prev == b || (prev == "" && b == "ok") {
			return edge.Event{}, false
		}
		v := 0.0
		if b == "low" {
			v = 1
		}
		return edge.StateChange(id, "battery", b, v), true
	case StateHeartbeat:
		return edge.Event{}, false
	}
	return edge.StateChange(id, "event", state, 1), true
}

func (d *Driver) emit(sink edge.Sink, i int, ev edge.Event) {
	if err := sink.Emit(ev); err != nil {
		d.mu.Lock()
		d.devs[i].errors++
		d.devs[i].lastErr, d.devs[i].lastErrAt = "emit: "+err.Error(), d.clock.Now()
		d.mu.Unlock()
		d.rx.throttle.Warn(ev.Device, "event not accepted by the gateway", "device", ev.Device, "err", err)
	}
}

var (
	_ edge.Driver        = (*Driver)(nil)
	_ edge.StatsReporter = (*Driver)(nil)
)
