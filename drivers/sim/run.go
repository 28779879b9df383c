package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// tickFor is how often a rate-limited Run wakes to emit its budget: every
// 10ms at 100 events/s and more, about once per event below that (at most
// every 250ms, so the scenario's deadlines stay on time). Triggers do not
// wait for a tick.
func tickFor(rate float64) time.Duration {
	t := time.Duration(float64(time.Second) / rate)
	return min(max(t, 10*time.Millisecond), 250*time.Millisecond)
}

// ErrQueueFull is returned by the triggers when Run is not taking their
// events (it is not running, or its sink is stuck) and 4096 are waiting.
var ErrQueueFull = errors.New("sim: trigger queue full")

// Run emits an online status for every device, then random events at the
// configured rate, the scenario's events when they are due, and the
// triggered ones, until ctx ends.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	if _, loaded := instances.LoadOrStore(d.name, d); loaded {
		instances.Store(d.name, d)
	}
	defer instances.CompareAndDelete(d.name, d)
	emit := func(ev edge.Event) {
		if err := sink.Emit(ev); err != nil {
			if n := d.dropped.Add(1); n&(n-1) == 0 { // log at powers of two only
				d.log.Warn("sink refused simulated event", "err", err, "dropped", n)
			}
			return
		}
		d.emitted.Add(1)
	}
	for _, dev := range d.devices {
		emit(edge.DeviceStatus(dev.ID, true, "simulated"))
	}
	g, o := d.gen, &d.opts
	start := d.clock.Now()
	s := scenario{
		fireAt:    at(start, o.FireAt.D()),
		nextDoor:  at(start, o.DoorOpenEvery.D()),
		nextFall:  at(start, o.FallEvery.D()),
		closeDoor: map[*simDevice]time.Time{},
	}
	var random uint64
	budget, last := 0.0, start
	tick := tickFor(o.Rate)
	for {
		if ctx.Err() != nil {
			return nil
		}
		// Triggered events first, without blocking.
		for drained := false; !drained; {
			select {
			case c := <-d.cmds:
				d.apply(c, emit)
			default:
				drained = true
			}
		}
		now := d.clock.Now()
		s.due(now, o, g, emit)
		n := 256
		if !o.Unlimited {
			budget += o.Rate * now.Sub(last).Seconds()
			budget = min(budget, o.Rate+1) // at most a second's burst after a stall
			last = now
			n = int(budget)
			budget -= float64(n)
		}
		if o.MaxEvents > 0 {
			n = int(min(uint64(n), o.MaxEvents-random))
		}
		for i := 0; i < n; i++ {
			emit(g.next())
		}
		random += uint64(n)
		if o.Unlimited && (o.MaxEvents == 0 || random < o.MaxEvents) {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case c := <-d.cmds:
			d.apply(c, emit)
		case <-d.clock.After(tick):
		}
	}
}

func (d *Driver) apply(c command, emit func(edge.Event)) {
	if c.f == nil {
		emit(c.ev)
		return
	}
	if ev, ok := c.f(d.gen); ok {
		emit(ev)
	}
}

// scenario holds the deadlines of the configured story.
type scenario struct {
	fireAt, nextDoor, nextFall time.Time
	closeDoor                  map[*simDevice]time.Time
}

func at(start time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return start.Add(d)
}

func (s *scenario) due(now time.Time, o *Options, g *generator, emit func(edge.Event)) {
	if !s.fireAt.IsZero() && !now.Before(s.fireAt) {
		s.fireAt = time.Time{}
		g.fire[o.FireBuilding] = true
	}
	if !s.nextDoor.IsZero() && !now.Before(s.nextDoor) {
		s.nextDoor = now.Add(o.DoorOpenEvery.D())
		if dev := g.randomObserved(); dev != nil {
			emit(g.setDoor(dev, true))
			s.closeDoor[dev] = now.Add(o.DoorOpenFor.D())
		}
	}
	for dev, t := range s.closeDoor {
		if !now.Before(t) {
			delete(s.closeDoor, dev)
			if dev.open {
				emit(g.setDoor(dev, false))
			}
		}
	}
	if !s.nextFall.IsZero() && !now.Before(s.nextFall) {
		s.nextFall = now.Add(o.FallEvery.D())
		emit(g.fall(g.cams[g.rng.IntN(len(g.cams))]))
	}
}

func (d *Driver) send(c command) error {
	select {
	case d.cmds <- c:
		return nil
	default:
		return ErrQueueFull
	}
}

func (d *Driver) device(id, typ string) (*simDevice, error) {
	dev, ok := d.gen.byID[id] // byID is not changed after New
	if !ok {
		return nil, fmt.Errorf("sim: no device %q", id)
	}
	if typ != "" && dev.Type != typ {
		return nil, fmt.Errorf("sim: device %q is a %s, not a %s", id, dev.Type, typ)
	}
	return dev, nil
}

// Inject emits ev as if a device had sent it. Its device must exist.
// Events are emitted in the order they were injected, from Run's
// goroutine; they wait there while Run is not running.
func (d *Driver) Inject(ev edge.Event) error {
	if _, err := d.device(ev.Device, ""); err != nil {
		return err
	}
	return d.send(command{ev: ev})
}

// OpenDoor opens a door contact ("door-b1-u1-h2"); CloseDoor closes it.
func (d *Driver) OpenDoor(id string) error  { return d.setDoor(id, true) }
func (d *Driver) CloseDoor(id string) error { return d.setDoor(id, false) }

func (d *Driver) setDoor(id string, open bool) error {
	dev, err := d.device(id, TypeDoor)
	if err != nil {
		return err
	}
	return d.send(command{f: func(g *generator) (edge.Event, bool) { return g.setDoor(dev, open), true }})
}

// Fire starts (on) or puts out a fire in building b (1-based): its
// temperature and smoke readings move towards fire levels or back.
func (d *Driver) Fire(b int, on bool) error {
	if b < 1 || b > d.opts.Buildings {
		return fmt.Errorf("sim: no building %d (there are %d)", b, d.opts.Buildings)
	}
	return d.send(command{f: func(g *generator) (edge.Event, bool) { g.fire[b] = on; return edge.Event{}, false }})
}

// Fall makes camera id ("cam-b1") report a falling object (state FALL).
func (d *Driver) Fall(id string) error {
	dev, err := d.device(id, TypeCamera)
	if err != nil {
		return err
	}
	return d.send(command{f: func(g *generator) (edge.Event, bool) { return g.fall(dev), true }})
}

// SetValue sets a sensor's current value (temperature in C, smoke in
// %obs/m, garbage fill in %, water level in cm) and emits the reading; the
// random walk carries on from it.
func (d *Driver) SetValue(id string, v float64) error {
	dev, err := d.device(id, "")
	if err != nil {
		return err
	}
	point, unit := pointOf(dev.Type)
	if point == "" {
		return fmt.Errorf("sim: device %q (%s) has no reading", id, dev.Type)
	}
	return d.send(command{f: func(g *generator) (edge.Event, bool) {
		dev.value = v
		return edge.Reading(dev.ID, point, v, unit), true
	}})
}

func pointOf(typ string) (point, unit string) {
	switch typ {
	case TypeTemperature:
		return "temperature", "C"
	case TypeSmoke:
		return "smoke", "%obs/m"
	case TypeGarbage:
		return "fill", "%"
	case TypeWaterLevel:
		return "level", "cm"
	}
	return "", ""
}

var _ edge.Driver = (*Driver)(nil)
