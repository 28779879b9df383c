package gpio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// DeviceOptions is one device with its contacts; P is the contact's options
// (a chip line for gpio, a status line for modemlines).
type DeviceOptions[P contactPoint] struct {
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

// contactPoint is what every contact's options have, whatever the contact
// is wired to: a name, and the names of its two states.
type contactPoint interface {
	names() (name, on, off string)
}

func (l LineOptions) names() (string, string, string)       { return l.Name, l.On, l.Off }
func (p ModemPointOptions) names() (string, string, string) { return p.Name, p.On, p.Off }

// contact is a point's identity, checked and with its defaults.
type contact struct {
	dev, name, on, off string
}

// contacts is what the gpio and modemlines inputs share: their devices
// built from the options by one builder, their counters, the online state
// of the whole input (one chip or one port: all its devices go on- and
// offline together) and the count of events the core refused.
type contacts struct {
	log      edge.Logger
	clock    edge.Clock
	devs     []edge.Device
	refusals *edge.LogThrottle
	dropped  atomic.Uint64
	state    int8 // 0 not yet known, 1 online, -1 offline; the Run goroutine's

	mu    sync.Mutex
	stats map[string]*edge.DeviceStats
}

// buildContacts is the one builder of the gpio and modemlines inputs'
// devices: ids present and unique, at least one point per device, point
// names present and unique within their device, state names defaulting to
// closed/open and different. point checks and keeps what is particular to
// the wiring; f is the point's field path for its errors.
func buildContacts[P contactPoint](env edge.Env, opts edge.Options, devs []DeviceOptions[P], point func(c contact, f string, p P) error) (*contacts, error) {
	c := &contacts{log: env.Logger, clock: env.Clock, stats: map[string]*edge.DeviceStats{}}
	if c.log == nil {
		c.log = edge.DiscardLogger()
	}
	if c.clock == nil {
		c.clock = edge.SystemClock{}
	}
	c.refusals = &edge.LogThrottle{Log: c.log, Interval: time.Minute, Clock: c.clock}
	if len(devs) == 0 {
		return nil, opts.Errorf("devices", "at least one device is required")
	}
	ids := map[string]bool{}
	for i, do := range devs {
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
		c.devs = append(c.devs, edge.Device{ID: do.ID, Location: do.Location, Tags: do.Tags, Type: typ, Driver: env.Name})
		c.stats[do.ID] = &edge.DeviceStats{Device: do.ID}
		names := map[string]bool{}
		for j, po := range do.Points {
			pf := fmt.Sprintf("%s.points[%d]", f, j)
			name, on, off := po.names()
			if name == "" || names[name] {
				return nil, opts.Errorf(pf+".name", "a point needs a name, unique in its device (got %q)", name)
			}
			names[name] = true
			if on == "" {
				on = "closed"
			}
			if off == "" {
				off = "open"
			}
			if on == off {
				return nil, opts.Errorf(pf+".on", "on and off must differ (both %q)", on)
			}
			if err := point(contact{dev: do.ID, name: name, on: on, off: off}, pf, po); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Devices lists the devices.
func (c *contacts) Devices() []edge.Device { return append([]edge.Device(nil), c.devs...) }

// Stats returns each device's counters.
func (c *contacts) Stats() []edge.DeviceStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]edge.DeviceStats, 0, len(c.devs))
	for _, dv := range c.devs {
		out = append(out, *c.stats[dv.ID])
	}
	return out
}

// count applies fn to every device's counters.
func (c *contacts) count(fn func(*edge.DeviceStats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stats {
		fn(s)
	}
}

// frame counts one edge or reading of dev.
func (c *contacts) frame(dev string) {
	c.mu.Lock()
	c.stats[dev].Frames++
	c.mu.Unlock()
}

// online reports every device online, once per outage (and at start).
func (c *contacts) online(sink edge.Sink, reason string) {
	if c.state > 0 {
		return
	}
	c.state = 1
	for _, dv := range c.devs {
		c.emit(sink, edge.DeviceStatus(dv.ID, true, reason))
	}
}

// offline counts err on every device and, the first time after being
// online, reports them offline with reason; it says whether it did.
func (c *contacts) offline(sink edge.Sink, err error, reason string) bool {
	c.count(func(s *edge.DeviceStats) { s.Errors++; s.LastError = err.Error() })
	if c.state < 0 {
		return false
	}
	c.state = -1
	for _, dv := range c.devs {
		c.emit(sink, edge.DeviceStatus(dv.ID, false, reason))
	}
	return true
}

func (c *contacts) emit(sink edge.Sink, ev edge.Event) {
	if err := sink.Emit(ev); err != nil {
		// The core refused it (shutting down, queue full past its bound):
		// counted, logged once a minute; the driver carries on.
		n := c.dropped.Add(1)
		c.refusals.Warn("refused", "event not accepted by the core", "device", ev.Device, "err", err, "dropped_total", n)
	}
}

// Dropped counts events the core refused.
func (c *contacts) Dropped() uint64 { return c.dropped.Load() }

// report sends a contact's state.
func (c *contacts) report(sink edge.Sink, p contact, active bool) {
	name, v := p.off, 0.0
	if active {
		name, v = p.on, 1
	}
	c.emit(sink, edge.StateChange(p.dev, p.name, name, v))
}
