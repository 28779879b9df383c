// Package gpio reads dry contacts and drives on/off lines: the "gpio" input
// and output drivers use the Linux GPIO character device (go-gpiocdev, in a
// linux-only file); the "modemlines" input and output drivers use a serial
// port's modem lines (CTS/DSR/DCD/RI in, DTR/RTS out) on Linux and Windows.
package gpio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Driver names.
const (
	Name      = "gpio"
	ModemName = "modemlines"
)

func init() {
	edge.RegisterDriver(Name, func(env edge.Env, opts edge.Options) (edge.Driver, error) { return New(env, opts) })
	edge.RegisterOutput(Name, func(env edge.Env, opts edge.Options) (edge.Output, error) { return NewOutput(env, opts) })
	edge.RegisterDriver(ModemName, func(env edge.Env, opts edge.Options) (edge.Driver, error) { return NewModem(env, opts) })
	edge.RegisterOutput(ModemName, func(env edge.Env, opts edge.Options) (edge.Output, error) { return NewModemOutput(env, opts) })
}

// Options are the "gpio" input driver's settings: contacts on the lines of
// one GPIO chip.
type Options struct {
	// Chip is the GPIO chip: gpiochip0 or /dev/gpiochip0. Required.
	Chip string `yaml:"chip"`
	// Debounce is the default debounce period of the lines, done by the
	// kernel. Default: 20ms.
	Debounce *edge.Duration `yaml:"debounce"`
	// Bias is the default pull resistor: pull-up, pull-down, disabled or
	// as-is. Default: pull-up (a dry contact switching to ground).
	Bias string `yaml:"bias"`
	// Resync re-reads every line this often, to catch an edge the kernel's
	// event buffer dropped and to notice a vanished chip (a USB GPIO
	// expander unplugged). Default: 10s.
	Resync edge.Duration `yaml:"resync"`
	// Devices are the contacts' devices. At least one is required.
	Devices []DeviceOptions[LineOptions] `yaml:"devices"`
}

// DeviceOptions is one device with its contacts; P is the contact's options
// (a chip line for gpio, a status line for modemlines).
type DeviceOptions[P any] struct {
	// ID is the device id, unique in the gateway. Required.
	ID string `yaml:"id"`
	// Location is compound/building/unit/household. Default: none.
	Location string `yaml:"location"`
	// Tags are free labels for rules ("observe"). Default: none.
	Tags []string `yaml:"tags"`
	// Type is a free device type ("door_contact"). Default: "contact".
	Type string `yaml:"type"`
	// Points are the device's contacts. At least one is required.
	Points []P `yaml:"points"`
}

// LineOptions is one contact on one line.
type LineOptions struct {
	// Name is the point name ("door"). Required, unique within the device.
	Name string `yaml:"name"`
	// Line is the line offset on the chip. Required.
	Line *int `yaml:"line"`
	// ActiveLow: the contact is active when the line is low. Default: false.
	ActiveLow bool `yaml:"active_low"`
	// Bias overrides the chip-wide bias. Default: the chip-wide one.
	Bias string `yaml:"bias"`
	// Debounce overrides the chip-wide debounce. Default: the chip-wide one.
	Debounce *edge.Duration `yaml:"debounce"`
	// On and Off name the active and inactive states: a door reed switch
	// that is active when the door opens is on: open, off: closed.
	// Default: on: closed, off: open (contact terms).
	On  string `yaml:"on"`
	Off string `yaml:"off"`
}

type gpioPoint struct {
	dev     string
	name    string
	offset  int
	cfg     LineConfig
	on, off string
	have    bool
	last    bool
	line    Line
}

// Driver reads the contacts of one GPIO chip.
type Driver struct {
	env    edge.Env
	log    edge.Logger
	chip   string
	resync time.Duration
	devs   []edge.Device
	points []*gpioPoint
	byOff  map[int]*gpioPoint

	// open opens the chip; tests give a fake.
	open                   func(name string) (Chip, error)
	backoffMin, backoffMax time.Duration

	mu    sync.Mutex
	stats map[string]*edge.DeviceStats
	opens int
	drops drops
}

// New builds the input driver from its options; it opens nothing.
func New(env edge.Env, opts edge.Options) (*Driver, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Chip == "" {
		return nil, opts.Errorf("chip", "chip is required (gpiochip0; see gpiodetect)")
	}
	bias, err := ParseBias(o.Bias)
	if err != nil {
		return nil, opts.Errorf("bias", "%v", err)
	}
	if o.Bias == "" {
		bias = BiasPullUp
	}
	deb := 20 * time.Millisecond
	if o.Debounce != nil {
		if deb = o.Debounce.D(); deb < 0 {
			return nil, opts.Errorf("debounce", "debounce may not be negative")
		}
	}
	d := &Driver{env: env, log: env.Logger, chip: o.Chip, resync: o.Resync.D(), open: OpenChip,
		byOff: map[int]*gpioPoint{}, stats: map[string]*edge.DeviceStats{},
		backoffMin: time.Second, backoffMax: 30 * time.Second}
	if d.resync <= 0 {
		d.resync = 10 * time.Second
	}
	if d.log == nil {
		d.log = edge.DiscardLogger()
	}
	if len(o.Devices) == 0 {
		return nil, opts.Errorf("devices", "at least one device is required")
	}
	ids := map[string]bool{}
	for i, do := range o.Devices {
		f := fmt.Sprintf("devices[%d]", i)
		if do.ID == "" || ids[do.ID] {
			return nil, opts.Errorf(f+".id", "a device needs an id, unique in this input (got %q)", do.ID)
		}
		ids[do.ID] = true
		if len(do.Points) == 0 {
			return nil, opts.Errorf(f+".points", "device %q has no points", do.ID)
		}
		typ := do.Type
		if typ == "" {
			typ = "contact"
		}
		d.devs = append(d.devs, edge.Device{ID: do.ID, Location: do.Location, Tags: do.Tags, Type: typ, Driver: env.Name})
		d.stats[do.ID] = &edge.DeviceStats{Device: do.ID}
		names := map[string]bool{}
		for j, lo := range do.Points {
			pf := fmt.Sprintf("%s.points[%d]", f, j)
			if lo.Name == "" || names[lo.Name] {
				return nil, opts.Errorf(pf+".name", "a point needs a name, unique in its device (got %q)", lo.Name)
			}
			names[lo.Name] = true
			if lo.Line == nil || *lo.Line < 0 || *lo.Line > 511 {
				return nil, opts.Errorf(pf+".line", "line offset is required, 0..511")
			}
			if other := d.byOff[*lo.Line]; other != nil {
				return nil, opts.Errorf(pf+".line", "line %d is already used by %s/%s", *lo.Line, other.dev, other.name)
			}
			p := &gpioPoint{dev: do.ID, name: lo.Name, offset: *lo.Line, on: lo.On, off: lo.Off,
				cfg: LineConfig{ActiveLow: lo.ActiveLow, Bias: bias, Debounce: deb}}
			if lo.Bias != "" {
				if p.cfg.Bias, err = ParseBias(lo.Bias); err != nil {
					return nil, opts.Errorf(pf+".bias", "%v", err)
				}
			}
			if lo.Debounce != nil {
				if p.cfg.Debounce = lo.Debounce.D(); p.cfg.Debounce < 0 {
					return nil, opts.Errorf(pf+".debounce", "debounce may not be negative")
				}
			}
			if p.on == "" {
				p.on = "closed"
			}
			if p.off == "" {
				p.off = "open"
			}
			if p.on == p.off {
				return nil, opts.Errorf(pf+".on", "on and off must differ (both %q)", p.on)
			}
			d.points = append(d.points, p)
			d.byOff[p.offset] = p
		}
	}
	return d, nil
}

// Devices lists the devices.
func (d *Driver) Devices() []edge.Device { return append([]edge.Device(nil), d.devs...) }

// Stats returns each device's counters: Frames counts edges seen.
func (d *Driver) Stats() []edge.DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]edge.DeviceStats, 0, len(d.devs))
	for _, dv := range d.devs {
		out = append(out, *d.stats[dv.ID])
	}
	return out
}

// Run reads the contacts until ctx ends. A chip that cannot be opened or
// vanishes takes the devices offline; it is reopened with backoff.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	clock := d.env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	backoff := d.backoffMin
	var state int8 // 0 not yet known, 1 online, -1 offline
	for ctx.Err() == nil {
		err := d.session(ctx, sink, &state)
		if ctx.Err() != nil {
			return nil
		}
		if state > 0 {
			backoff = d.backoffMin // it ran; start the backoff over
		}
		d.setOffline(sink, &state, err)
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, d.backoffMax)
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
	}
	return nil
}

func (d *Driver) setOffline(sink edge.Sink, state *int8, err error) {
	d.mu.Lock()
	for _, s := range d.stats {
		s.Errors++
		s.LastError = err.Error()
	}
	d.mu.Unlock()
	if *state < 0 {
		return
	}
	*state = -1
	d.log.Warn("gpio chip lost; reopening", "chip", d.chip, "err", err)
	for _, p := range d.points {
		p.have = false
	}
	for _, dv := range d.devs {
		d.emit(sink, edge.DeviceStatus(dv.ID, false, "gpio: "+err.Error()))
	}
}

// session opens the chip, requests the lines and follows their edges until
// ctx ends or the chip fails.
func (d *Driver) session(ctx context.Context, sink edge.Sink, state *int8) error {
	chip, err := d.open(d.chip)
	if err != nil {
		return err
	}
	defer chip.Close()
	events := make(chan LineEvent, 256)
	var overflow atomic.Bool
	handler := func(e LineEvent) {
		select {
		case events <- e:
		default:
			overflow.Store(true) // resync reads every line at once
		}
	}
	for _, p := range d.points {
		l, err := chip.RequestLine(p.offset, p.cfg, handler)
		if err != nil {
			return err
		}
		p.line = l
		defer l.Close()
	}
	d.mu.Lock()
	d.opens++
	if d.opens > 1 {
		for _, s := range d.stats {
			s.Reconnects++
		}
	}
	d.mu.Unlock()
	if *state <= 0 {
		*state = 1
		for _, dv := range d.devs {
			d.emit(sink, edge.DeviceStatus(dv.ID, true, "gpio lines requested"))
		}
	}
	// The initial state of every contact.
	if err := d.readAll(sink); err != nil {
		return err
	}
	tick := time.NewTicker(d.resync)
	defer tick.Stop()
	wake := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-events:
			p := d.byOff[e.Offset]
			if p == nil {
				continue
			}
			d.mu.Lock()
			d.stats[p.dev].Frames++
			d.mu.Unlock()
			d.update(sink, p, e.Active)
			if overflow.Swap(false) {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		case <-wake:
			if err := d.readAll(sink); err != nil {
				return err
			}
		case <-tick.C:
			if err := d.readAll(sink); err != nil {
				return err
			}
		}
	}
}

func (d *Driver) readAll(sink edge.Sink) error {
	for _, p := range d.points {
		v, err := p.line.Value()
		if err != nil {
			return fmt.Errorf("read line %d: %w", p.offset, err)
		}
		d.update(sink, p, v)
	}
	return nil
}

func (d *Driver) update(sink edge.Sink, p *gpioPoint, active bool) {
	if p.have && p.last == active {
		return
	}
	p.have, p.last = true, active
	name, v := p.off, 0.0
	if active {
		name, v = p.on, 1
	}
	d.emit(sink, edge.StateChange(p.dev, p.name, name, v))
}

func (d *Driver) emit(sink edge.Sink, ev edge.Event) {
	if err := sink.Emit(ev); err != nil {
		d.drops.add(d.log, ev, err)
	}
}

// Dropped counts events the core refused.
func (d *Driver) Dropped() uint64 { return d.drops.count() }

// drops counts events the core refused (shutting down, queue full past its
// bound) and logs them at most once a minute; the driver carries on.
type drops struct {
	mu   sync.Mutex
	n    uint64
	last time.Time
}

func (c *drops) add(log edge.Logger, ev edge.Event, err error) {
	c.mu.Lock()
	c.n++
	n, quiet := c.n, time.Since(c.last) < time.Minute
	if !quiet {
		c.last = time.Now()
	}
	c.mu.Unlock()
	if !quiet {
		log.Warn("event not accepted by the core", "device", ev.Device, "err", err, "dropped_total", n)
	}
}

func (c *drops) count() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

var (
	_ edge.Driver        = (*Driver)(nil)
	_ edge.StatsReporter = (*Driver)(nil)
)
