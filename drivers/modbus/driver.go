// Package modbus is a Modbus RTU master over go.bug.st/serial: the "modbus"
// input driver polls slaves on an RS-485 bus, the "modbus" output driver
// writes coils and registers of relay boards. The RTU codec is this
// package's own (codec.go), small and fuzzed.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Name is the registered input and output driver name.
const Name = "modbus"

func init() {
	edge.RegisterDriver(Name, func(env edge.Env, opts edge.Options) (edge.Driver, error) { return New(env, opts) })
	edge.RegisterOutput(Name, func(env edge.Env, opts edge.Options) (edge.Output, error) { return NewOutput(env, opts) })
}

// Driver polls the slaves of one bus.
type Driver struct {
	env      edge.Env
	log      edge.Logger
	line     Line
	groups   []*group
	devs     []*device
	throttle *edge.LogThrottle

	// reconnect backoff bounds; tests shorten them
	backoffMin, backoffMax time.Duration

	mu      sync.Mutex
	state   map[string]*devState
	opens   int
	dropped uint64
}

// Causes of errors, the keys of edge.DeviceStats.ErrorsByCause. An
// exception answer counts as "exception_<code>" ("exception_6" for SLAVE
// DEVICE BUSY).
const (
	CauseTimeout    = "timeout"     // no answer at all
	CauseLate       = "late"        // an answer after the timeout: discarded; raise the timeout
	CauseShortFrame = "short_frame" // an answer that stopped before its length
	CauseCRC        = "crc"         // a whole answer with a bad CRC
	CauseMismatched = "mismatched"  // a good frame that did not answer the request: discarded
	CauseNoise      = "noise"       // the line never fell silent for a request
)

// CauseException is the cause key of exception code c.
func CauseException(c byte) string { return "exception_" + strconv.Itoa(int(c)) }

// devState is a device's counters and online state.
type devState struct {
	edge.DeviceStats
	fails  int  // polls failed in a row
	online int8 // 0 unknown, 1 online, -1 offline
}

// New builds the input driver from its options, validating them all; it
// opens nothing.
func New(env edge.Env, opts edge.Options) (*Driver, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return newDriver(env, &o, opts)
}

func newDriver(env edge.Env, o *Options, opts edge.Options) (*Driver, error) {
	groups, devs, err := compile(o, opts, env.Name)
	if err != nil {
		return nil, err
	}
	d := &Driver{env: env, log: env.Logger, line: o.line(), groups: groups, devs: devs,
		backoffMin: 500 * time.Millisecond, backoffMax: 30 * time.Second, state: map[string]*devState{}}
	if d.log == nil {
		d.log = edge.DiscardLogger()
	}
	if d.env.Clock == nil {
		d.env.Clock = edge.SystemClock{}
	}
	d.throttle = &edge.LogThrottle{Log: d.log, Interval: time.Minute, Clock: d.env.Clock}
	for _, dv := range devs {
		d.state[dv.ID] = &devState{DeviceStats: edge.DeviceStats{Device: dv.ID, ErrorsByCause: map[string]uint64{}}}
	}
	return d, nil
}

// Devices lists the slaves.
func (d *Driver) Devices() []edge.Device {
	out := make([]edge.Device, len(d.devs))
	for i, dv := range d.devs {
		out[i] = dv.Device
		out[i].Tags = append([]string(nil), dv.Tags...)
	}
	return out
}

// Stats returns each slave's counters.
func (d *Driver) Stats() []edge.DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]edge.DeviceStats, 0, len(d.devs))
	for _, dv := range d.devs {
		st := d.state[dv.ID].DeviceStats
		st.ErrorsByCause = maps.Clone(st.ErrorsByCause)
		out = append(out, st)
	}
	return out
}

// Counters are a slave's error counters by kind.
type Counters struct {
	Timeouts, Late, ShortFrames, CRCErrors, Mismatched, Exceptions, Frames uint64
	Online                                                                 bool
	// Causes are the counts by cause (CauseTimeout, ..., CauseException(c)).
	Causes map[string]uint64
}

// Counters returns the counters of device id.
func (d *Driver) Counters(id string) Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.state[id]
	if s == nil {
		return Counters{}
	}
	c := Counters{Timeouts: s.ErrorsByCause[CauseTimeout], Late: s.ErrorsByCause[CauseLate], ShortFrames: s.ErrorsByCause[CauseShortFrame],
		CRCErrors: s.ErrorsByCause[CauseCRC], Mismatched: s.ErrorsByCause[CauseMismatched],
		Frames: s.Frames, Online: s.online > 0, Causes: maps.Clone(s.ErrorsByCause)}
	for k, n := range s.ErrorsByCause {
		if strings.HasPrefix(k, "exception_") {
			c.Exceptions += n
		}
	}
	return c
}

// Run polls until ctx ends.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	m, release, err := acquireMaster(d.line, d.env.Clock)
	if err != nil {
		return err
	}
	defer release()
	return d.run(ctx, m, sink)
}

func (d *Driver) run(ctx context.Context, m Client, sink edge.Sink) error {
	clock := d.env.Clock
	now := clock.Now()
	for _, g := range d.groups {
		g.next = now
	}
	backoff := edge.Backoff{Min: d.backoffMin, Max: d.backoffMax, Clock: clock}
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		if !m.Connected() {
			if err := m.Connect(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.portDown(sink, err)
				if backoff.Wait(ctx) != nil {
					return nil
				}
				continue
			}
			d.mu.Lock()
			d.opens++
			if d.opens > 1 {
				for _, s := range d.state {
					s.Reconnects++
				}
			}
			d.mu.Unlock()
		}
		// Wait for the first group that is due.
		next := d.groups[0]
		for _, g := range d.groups[1:] {
			if g.next.Before(next.next) {
				next = g
			}
		}
		if err := edge.Sleep(ctx, clock, next.next.Sub(clock.Now())); err != nil {
			return nil
		}
		now := clock.Now()
		for _, g := range d.groups {
			if g.next.After(now) {
				continue
			}
			if err := d.poll(ctx, m, g, sink); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.portDown(sink, err)
				// A port that opens but fails at once must not spin.
				if backoff.Wait(ctx) != nil {
					return nil
				}
				break
			}
			backoff.Reset()
			// Skip missed ticks rather than bursting to catch up.
			g.next = g.next.Add(g.interval)
			if now := clock.Now(); g.next.Before(now) {
				g.next = now
			}
		}
	}
}

// PollOnce polls every group once on m; the benchmark and tests use it.
func (d *Driver) PollOnce(ctx context.Context, m Client, sink edge.Sink) error {
	for _, g := range d.groups {
		if err := d.poll(ctx, m, g, sink); err != nil {
			return err
		}
	}
	return nil
}

// poll reads every block of g once. It returns an error only when the port
// is gone.
func (d *Driver) poll(ctx context.Context, m Client, g *group, sink edge.Sink) error {
	skip := map[*device]bool{}
	for _, b := range g.blocks {
		if skip[b.dev] {
			continue
		}
		tx := b.dev.tx
		d.mu.Lock()
		offline := d.state[b.dev.ID].online < 0
		d.mu.Unlock()
		if offline {
			// A dead slave costs the whole bus its timeout and the silence
			// after it: ask it once per cycle, without retries, until it
			// answers again.
			tx.Retries = 0
			skip[b.dev] = true
		}
		req, err := ReadRequest(b.table.ReadFunction(), uint16(b.addr), uint16(b.qty))
		if err != nil { // compile() keeps blocks within limits
			return fmt.Errorf("device %q: %w", b.dev.ID, err)
		}
		resp, st, err := m.Do(ctx, b.dev.slave, req, tx)
		if errors.Is(err, ErrPort) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.account(b.dev, st, err, sink)
		if err != nil {
			var ex *ExceptionError
			if !errors.As(err, &ex) {
				skip[b.dev] = true // it is not answering; do not wait for it again this cycle
			}
			continue
		}
		d.emitBlock(b, g, resp, sink)
	}
	return nil
}

// account counts one transaction and moves the device online or offline.
func (d *Driver) account(dv *device, st TxStats, err error, sink edge.Sink) {
	d.mu.Lock()
	s := d.state[dv.ID]
	add := func(cause string, n int) {
		if n > 0 {
			s.ErrorsByCause[cause] += uint64(n)
			s.Errors += uint64(n)
		}
	}
	add(CauseTimeout, st.Timeouts)
	add(CauseLate, st.Late)
	add(CauseShortFrame, st.ShortFrames)
	add(CauseCRC, st.CRCErrors)
	add(CauseMismatched, st.Mismatched)
	add(CauseNoise, st.Noise)
	for _, c := range st.Exceptions {
		add(CauseException(c), 1)
	}
	s.Garbage += uint64(st.Garbage)
	var ex *ExceptionError
	var evs []edge.Event
	answered := err == nil || errors.As(err, &ex)
	if st.LastErr != nil {
		s.LastError = st.LastErr.Error()
	}
	if answered {
		s.Frames++
		s.fails = 0
		if s.online <= 0 {
			s.online = 1
			evs = append(evs, edge.DeviceStatus(dv.ID, true, "answering"))
		}
	} else {
		s.fails++
		if s.fails >= dv.offlineAfter && s.online >= 0 {
			s.online = -1
			d.forget(dv)
			evs = append(evs, edge.DeviceStatus(dv.ID, false, fmt.Sprintf("no valid answer to %d polls in a row: %v", s.fails, err)))
		}
	}
	d.mu.Unlock()
	if err != nil {
		// A dead slave fails every poll: at most a line a minute per device.
		d.throttle.Warn("request:"+dv.ID, "modbus request failed", "device", dv.ID, "slave", dv.slave, "err", err)
	}
	for _, ev := range evs {
		d.emit(sink, ev)
	}
}

// forget makes a device's points send their values again when it returns.
func (d *Driver) forget(dv *device) {
	for _, p := range dv.points {
		p.have = false
	}
}

// portDown marks every device offline once, with the port's error, and
// counts the error by its cause (CausePort, CauseConnectRefused, ...) on
// every device.
func (d *Driver) portDown(sink edge.Sink, err error) {
	var evs []edge.Event
	cause := PortCause(err)
	d.mu.Lock()
	for _, dv := range d.devs {
		s := d.state[dv.ID]
		s.LastError = err.Error()
		s.ErrorsByCause[cause]++
		s.Errors++
		if s.online >= 0 {
			s.online = -1
			d.forget(dv)
			evs = append(evs, edge.DeviceStatus(dv.ID, false, "port: "+err.Error()))
		}
	}
	d.mu.Unlock()
	if len(evs) > 0 {
		d.log.Warn("modbus port down; reconnecting", "port", d.line.Name(), "cause", cause, "err", err)
	}
	for _, ev := range evs {
		d.emit(sink, ev)
	}
}

// emit hands ev to the core. A refusal (shutting down, queue full past
// its bound) is counted and logged at most once a minute; polling goes on.
func (d *Driver) emit(sink edge.Sink, ev edge.Event) {
	if err := sink.Emit(ev); err != nil {
		d.mu.Lock()
		d.dropped++
		n := d.dropped
		d.mu.Unlock()
		d.throttle.Warn("dropped", "event not accepted by the core", "device", ev.Device, "err", err, "dropped_total", n)
	}
}

// Dropped counts events the core refused.
func (d *Driver) Dropped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// emitBlock sends what changed in a block just read.
func (d *Driver) emitBlock(b *block, g *group, resp PDU, sink edge.Sink) {
	now := d.env.Clock.Now()
	var regs []uint16
	var bits []bool
	if b.table.IsBits() {
		bits = Bits(resp, b.qty)
	} else {
		regs = Registers(resp)
	}
	for _, p := range b.points {
		off := p.addr - b.addr
		var v float64
		switch {
		case b.table.IsBits():
			if bits[off] {
				v = 1
			}
		case p.bitHi >= 0:
			v = Round(float64(BitField(regs[off], p.bit, p.bitHi))*p.scale+p.offset, p.decimals)
		case p.bit >= 0:
			v = float64(regs[off] >> p.bit & 1)
		case p.isText:
			raw, err := DecodeValue(regs[off:off+p.regs], p.typ, p.order)
			if err != nil || (p.have && raw.Str == p.text) {
				continue
			}
			p.have, p.text, p.lastSent = true, raw.Str, now
			d.emit(sink, edge.StateChange(b.dev.ID, p.name, raw.Str, 0))
			continue
		default:
			raw, err := Decode(regs[off:], p.typ, p.order)
			if err != nil {
				continue
			}
			v = Round(raw*p.scale+p.offset, p.decimals)
		}
		if p.isState {
			if p.invert {
				v = 1 - v
			}
			if p.have && v == p.last {
				continue
			}
			name := p.off
			if v == 1 {
				name = p.on
			}
			p.have, p.last, p.lastSent = true, v, now
			d.emit(sink, edge.StateChange(b.dev.ID, p.name, name, v))
			continue
		}
		changed := !p.have || (p.deadband == 0 && v != p.last) || (p.deadband > 0 && math.Abs(v-p.last) >= p.deadband)
		if math.IsNaN(v) && math.IsNaN(p.last) && p.have {
			changed = false
		}
		due := g.reportEvery > 0 && now.Sub(p.lastSent) >= g.reportEvery
		if !changed && !due {
			continue
		}
		p.have, p.last, p.lastSent = true, v, now
		d.emit(sink, edge.Reading(b.dev.ID, p.name, v, p.unit))
	}
}

var (
	_ edge.Driver        = (*Driver)(nil)
	_ edge.StatsReporter = (*Driver)(nil)
)
