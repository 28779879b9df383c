// Package gpio reads dry contacts and drives on/off lines: the "gpio" input
// and output drivers use the Linux GPIO character device (go-gpiocdev, in a
// linux-only file); the "modemlines" input and output drivers use a serial
// port's modem lines (CTS/DSR/DCD/RI in, DTR/RTS out) on Linux and Windows.
package gpio

import (
	"context"
	"fmt"
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
	contact
	offset int
	cfg    LineConfig
	have   bool
	last   bool
	line   Line
}

// Driver reads the contacts of one GPIO chip.
type Driver struct {
	*contacts
	chip   string
	resync time.Duration
	points []*gpioPoint
	byOff  map[int]*gpioPoint

	// open opens the chip; tests give a fake.
	open func(name string) (Chip, error)
	// backoff paces the reopening of a lost chip (Clock is set by Run).
	backoff edge.Backoff
	opens   int // the Run goroutine's
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
	d := &Driver{chip: o.Chip, resync: o.Resync.D(), open: OpenChip, byOff: map[int]*gpioPoint{},
		backoff: edge.Backoff{Min: time.Second, Max: 30 * time.Second}}
	if d.resync <= 0 {
		d.resync = 10 * time.Second
	}
	d.contacts, err = buildContacts(env, opts, o.Devices, func(c contact, pf string, lo LineOptions) error {
		if lo.Line == nil || *lo.Line < 0 || *lo.Line > 511 {
			return opts.Errorf(pf+".line", "line offset is required, 0..511")
		}
		if other := d.byOff[*lo.Line]; other != nil {
			return opts.Errorf(pf+".line", "line %d is already used by %s/%s", *lo.Line, other.dev, other.name)
		}
		p := &gpioPoint{contact: c, offset: *lo.Line, cfg: LineConfig{ActiveLow: lo.ActiveLow, Bias: bias, Debounce: deb}}
		if lo.Bias != "" {
			var err error
			if p.cfg.Bias, err = ParseBias(lo.Bias); err != nil {
				return opts.Errorf(pf+".bias", "%v", err)
			}
		}
		if lo.Debounce != nil {
			if p.cfg.Debounce = lo.Debounce.D(); p.cfg.Debounce < 0 {
				return opts.Errorf(pf+".debounce", "debounce may not be negative")
			}
		}
		d.points = append(d.points, p)
		d.byOff[p.offset] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Run reads the contacts until ctx ends. A chip that cannot be opened or
// vanishes takes the devices offline; it is reopened with backoff.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	backoff := d.backoff
	backoff.Clock = d.clock
	for ctx.Err() == nil {
		err := d.session(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		if d.state > 0 {
			backoff.Reset() // it ran; start the backoff over
		}
		if d.offline(sink, err, "gpio: "+err.Error()) {
			d.log.Warn("gpio chip lost; reopening", "chip", d.chip, "err", err)
			for _, p := range d.points {
				p.have = false
			}
		}
		if backoff.Wait(ctx) != nil {
			return nil
		}
	}
	return nil
}

// session opens the chip, requests the lines and follows their edges until
// ctx ends or the chip fails.
func (d *Driver) session(ctx context.Context, sink edge.Sink) error {
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
	if d.opens++; d.opens > 1 {
		d.count(func(s *edge.DeviceStats) { s.Reconnects++ })
	}
	d.online(sink, "gpio lines requested")
	// The initial state of every contact.
	if err := d.readAll(sink); err != nil {
		return err
	}
	resync := d.clock.After(d.resync)
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
			d.frame(p.dev)
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
		case <-resync:
			if err := d.readAll(sink); err != nil {
				return err
			}
			resync = d.clock.After(d.resync)
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
	d.report(sink, p.contact, active)
}

var (
	_ edge.Driver        = (*Driver)(nil)
	_ edge.StatsReporter = (*Driver)(nil)
)
