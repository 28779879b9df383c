// Package serial reads framed devices on RS-232/RS-485 lines (text lines,
// STX/ETX frames, fixed binary frames) and writes text or hex commands to
// serial outputs such as a voice broadcast module or an LED sign, over
// go.bug.st/serial.
package serial

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

func init() {
	edge.RegisterDriver("serial", New)
	edge.RegisterOutput("serial", NewOutput)
}

// Driver reads one serial line and the devices on it.
type Driver struct {
	name     string
	log      *slog.Logger
	clock    edge.Clock
	throttle *edge.LogThrottle
	opts     Options
	mode     *bugserial.Mode
	devices  []edge.Device
	mapper   Mapper
	framer   *Framer
	open     func(path string, mode *bugserial.Mode) (bugserial.Port, error)

	mu       sync.Mutex
	port     portStats
	devStats map[string]*portStats
	online   map[string]bool
	lastSeen map[string]time.Time
}

type portStats struct {
	frames, garbage, overlong, errors, reconnects uint64
	lastError                                     string
	lastErrorAt                                   time.Time
}

// New is the "serial" input driver's factory.
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
	mapper, err := o.Decode.compile(&o, ef)
	if err != nil {
		return nil, err
	}
	mode, err := o.Port.Mode()
	if err != nil {
		return nil, ef("port", "%v", err)
	}
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	log = log.With("port", o.Port.Port)
	clock := env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	d := &Driver{
		name: env.Name, log: log, clock: clock, opts: o, mode: mode,
		throttle: &edge.LogThrottle{Log: log, Interval: o.LogInterval.D(), Clock: clock},
		mapper:   mapper, framer: NewFramer(o.Framing),
		open:     (&serialport.Opener{Log: log, Clock: clock}).Open,
		devStats: map[string]*portStats{}, online: map[string]bool{},
		lastSeen: map[string]time.Time{},
	}
	for _, dc := range o.Devices {
		d.devices = append(d.devices, edge.Device{ID: dc.ID, Location: dc.Location,
			Tags: dc.Tags, Type: dc.Type, Driver: env.Name})
		d.devStats[dc.ID] = &portStats{}
	}
	return d, nil
}

// Devices lists the devices declared on this line.
func (d *Driver) Devices() []edge.Device { return append([]edge.Device(nil), d.devices...) }

// Stats reports each device's counters. The line's own counters (garbage
// that names no device, overlong frames, reconnects, read errors) are shown
// on every device the line serves.
func (d *Driver) Stats() []edge.DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]edge.DeviceStats, 0, len(d.devices))
	for _, dev := range d.devices {
		s := d.devStats[dev.ID]
		last := s.lastError
		if d.port.lastErrorAt.After(s.lastErrorAt) {
			last = d.port.lastError
		}
		out = append(out, edge.DeviceStats{Device: dev.ID, Frames: s.frames,
			Garbage: s.garbage + d.port.garbage, Overlong: d.port.overlong,
			Errors: s.errors + d.port.errors, Reconnects: d.port.reconnects, LastError: last})
	}
	return out
}

// Run reads the line until ctx ends. A vanished port (unplugged adapter,
// read error, failed open) marks the devices offline; the driver reopens it
// with jittered exponential backoff and marks them online when it is back.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	// The jitter keeps gateways that lost power together from hammering a
	// shared bus in step.
	backoff := edge.Backoff{Min: d.opts.ReconnectMin.D(), Max: d.opts.ReconnectMax.D(), Jitter: 0.4, Clock: d.clock}
	opened := false
	for ctx.Err() == nil {
		start := d.clock.Now()
		wasOpen, err := d.session(ctx, sink, opened)
		opened = opened || wasOpen
		if ctx.Err() != nil {
			return nil
		}
		reason := fmt.Sprintf("open %s: %v", d.opts.Port.Port, err)
		if wasOpen {
			reason = fmt.Sprintf("port %s lost: %v", d.opts.Port.Port, err)
		}
		d.portError(reason)
		d.setAllOnline(sink, false, reason)
		if wasOpen && d.clock.Now().Sub(start) > d.opts.ReconnectMax.D() {
			backoff.Reset() // it ran for a while: start the backoff over
		}
		if backoff.Wait(ctx) != nil {
			return nil
		}
	}
	return nil
}

// session opens the port and reads it until it fails or ctx ends. A panic
// anywhere in decoding ends the session, not the gateway.
func (d *Driver) session(ctx context.Context, sink edge.Sink, reopened bool) (opened bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in serial driver: %v", r)
			d.log.Error("serial session panicked", "panic", r)
		}
	}()
	port, err := d.open(d.opts.Port.Port, d.mode)
	if err != nil {
		return false, err
	}
	defer port.Close()
	// Close unblocks a pending Read, so cancellation is immediate.
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	if err := port.SetReadTimeout(d.opts.ReadTimeout.D()); err != nil {
		return true, err
	}
	if reopened {
		d.mu.Lock()
		d.port.reconnects++
		d.mu.Unlock()
	}
	d.log.Info("serial port open", "baud", d.mode.BaudRate)
	d.framer.Reset()
	d.syncFramerCounts(0, 0)
	d.setAllOnline(sink, true, "port open")
	buf := make([]byte, 4096)
	var evs []edge.Event
	lastData := d.clock.Now()
	g0, o0 := d.framer.Garbage, d.framer.Overlong
	for {
		n, err := port.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, err
		}
		now := d.clock.Now()
		if n == 0 { // read timeout: (0, nil)
			if ctx.Err() != nil {
				return true, nil
			}
			if ft := d.opts.FrameTimeout.D(); ft > 0 && d.framer.Pending() > 0 && now.Sub(lastData) >= ft {
				d.framer.Reset()
			}
			d.checkSilence(sink, now)
		} else {
			lastData = now
			d.framer.Feed(buf[:n], func(frame []byte) {
				evs = d.handleFrame(sink, frame, evs[:0], now)
			})
		}
		if g, o := d.framer.Garbage, d.framer.Overlong; g != g0 || o != o0 {
			d.syncFramerCounts(g-g0, o-o0)
			g0, o0 = g, o
		}
	}
}

func (d *Driver) syncFramerCounts(garbage, overlong uint64) {
	if garbage == 0 && overlong == 0 {
		return
	}
	d.mu.Lock()
	d.port.garbage += garbage
	d.port.overlong += overlong
	d.mu.Unlock()
	d.logLimited("", "serial line noise dropped", "garbage", garbage, "overlong", overlong)
}

func (d *Driver) handleFrame(sink edge.Sink, frame []byte, evs []edge.Event, now time.Time) []edge.Event {
	evs, dev, err := d.mapper.Map(frame, evs)
	if err != nil {
		d.mu.Lock()
		s := &d.port
		if dev != "" {
			s = d.devStats[dev]
		}
		s.garbage++
		s.lastError, s.lastErrorAt = err.Error(), now
		d.mu.Unlock()
		d.logLimited(dev, "serial frame not decoded", "err", err, "frame", printable(frame, 64))
		return evs
	}
	if dev == "" {
		return evs
	}
	d.mu.Lock()
	d.devStats[dev].frames++
	d.lastSeen[dev] = now
	back := !d.online[dev]
	d.mu.Unlock()
	if back {
		d.setOnline(sink, dev, true, "frames again")
	}
	for _, ev := range evs {
		d.emit(sink, ev)
	}
	return evs
}

func (d *Driver) emit(sink edge.Sink, ev edge.Event) {
	if err := sink.Emit(ev); err != nil {
		d.mu.Lock()
		if s := d.devStats[ev.Device]; s != nil {
			s.errors++
			s.lastError, s.lastErrorAt = "emit: "+err.Error(), d.clock.Now()
		}
		d.mu.Unlock()
		d.logLimited(ev.Device, "event not accepted by the gateway", "err", err)
	}
}

func (d *Driver) setAllOnline(sink edge.Sink, on bool, reason string) {
	for _, dev := range d.devices {
		d.setOnline(sink, dev.ID, on, reason)
	}
}

// setOnline emits a status event when the device's state changes (and the
// first time its state becomes known).
func (d *Driver) setOnline(sink edge.Sink, dev string, on bool, reason string) {
	d.mu.Lock()
	was, known := d.online[dev]
	d.online[dev] = on
	if on {
		if _, seen := d.lastSeen[dev]; !seen || !known || !was {
			d.lastSeen[dev] = d.clock.Now() // silence counts from now
		}
	}
	d.mu.Unlock()
	if known && was == on {
		return
	}
	if on {
		d.log.Info("device online", "device", dev, "reason", reason)
	} else {
		d.log.Warn("device offline", "device", dev, "reason", reason)
	}
	d.emit(sink, edge.DeviceStatus(dev, on, reason))
}

func (d *Driver) checkSilence(sink edge.Sink, now time.Time) {
	after := d.opts.OfflineAfter.D()
	if after <= 0 {
		return
	}
	for _, dev := range d.devices {
		d.mu.Lock()
		silent := d.online[dev.ID] && now.Sub(d.lastSeen[dev.ID]) >= after
		d.mu.Unlock()
		if silent {
			d.setOnline(sink, dev.ID, false, fmt.Sprintf("no frame for %v", after))
		}
	}
}

func (d *Driver) portError(reason string) {
	d.mu.Lock()
	d.port.errors++
	d.port.lastError, d.port.lastErrorAt = reason, d.clock.Now()
	d.mu.Unlock()
	d.logLimited("", "serial port unavailable", "reason", reason)
}

// logLimited logs at most one line per LogInterval per device ("" is the
// line itself), saying how many were suppressed in between.
func (d *Driver) logLimited(dev, msg string, args ...any) {
	if dev != "" {
		args = append(args, "device", dev)
	}
	d.throttle.Warn(dev, msg, args...)
}

// printable renders b as text with non-printable bytes escaped, cut at max.
func printable(b []byte, max int) string {
	cut := len(b) > max
	if cut {
		b = b[:max]
	}
	s := fmt.Sprintf("%q", b)
	if cut {
		s += "..."
	}
	return s
}

var (
	_ edge.Driver        = (*Driver)(nil)
	_ edge.StatsReporter = (*Driver)(nil)
)
