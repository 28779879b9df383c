// Package sim simulates a residential compound: buildings of units of
// households with door contacts, garbage stations, temperature, smoke and
// water-level sensors and falling-object cameras. It is a real edge.Driver
// (registered as "sim") that the demo, the tests and the benchmarks run, and
// it can be driven on demand (OpenDoor, Fire, Fall, Inject).
package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Name is the driver's registered name.
const Name = "sim"

func init() {
	edge.RegisterDriver(Name, New)
}

// Options are the "sim" driver's settings.
type Options struct {
	// Seed makes the event sequence repeatable. Default: 0.
	Seed int64 `yaml:"seed"`
	// Rate is the total events per second over all devices. Default: 50.
	Rate float64 `yaml:"rate"`
	// Unlimited emits as fast as the sink takes events (benchmarks);
	// Rate is ignored. Default: false.
	Unlimited bool `yaml:"unlimited"`
	// MaxEvents stops emitting after this many random events (status
	// events and triggered ones not counted); Run then waits for its ctx.
	// Default: 0 (no limit).
	MaxEvents uint64 `yaml:"max_events"`
	// Compound is the first segment of every location. Default: "sim".
	Compound string `yaml:"compound"`
	// Buildings, Units (per building) and Households (per unit) size the
	// compound. Defaults: 2, 2, 4 (16 doors, 4 temperature and 4 smoke
	// sensors, 2 garbage stations, 2 water-level sensors, 2 cameras).
	Buildings  int `yaml:"buildings"`
	Units      int `yaml:"units"`
	Households int `yaml:"households"`
	// ObserveEvery tags every Nth household door "observe" (home
	// observation). Default: 3. 0 in the file means the default; -1: none.
	ObserveEvery int `yaml:"observe_every"`
	// FireAt starts a fire in FireBuilding this long after Run starts:
	// its temperatures climb towards 85 C and its smoke readings rise.
	// Default: 0 (never).
	FireAt edge.Duration `yaml:"fire_at"`
	// FireBuilding is the building that burns. Default: 1.
	FireBuilding int `yaml:"fire_building"`
	// DoorOpenEvery opens a closed "observe" door this often. Default: 0 (never).
	DoorOpenEvery edge.Duration `yaml:"door_open_every"`
	// DoorOpenFor closes a door opened by DoorOpenEvery after this long.
	// Default: 20s.
	DoorOpenFor edge.Duration `yaml:"door_open_for"`
	// FallEvery makes a random camera report FALL this often, on top of
	// the rare random ones. Default: 0 (never).
	FallEvery edge.Duration `yaml:"fall_every"`
}

func (o *Options) setDefaults() {
	if o.Rate == 0 {
		o.Rate = 50
	}
	if o.Compound == "" {
		o.Compound = "sim"
	}
	if o.Buildings == 0 {
		o.Buildings = 2
	}
	if o.Units == 0 {
		o.Units = 2
	}
	if o.Households == 0 {
		o.Households = 4
	}
	if o.ObserveEvery == 0 {
		o.ObserveEvery = 3
	}
	if o.FireBuilding == 0 {
		o.FireBuilding = 1
	}
	if o.DoorOpenFor == 0 {
		o.DoorOpenFor = edge.Duration(20 * time.Second)
	}
}

// validate checks the options; errorf names the field with file:line.
func (o *Options) validate(errorf func(field, format string, args ...any) error) error {
	var errs []error
	check := func(bad bool, field, format string, args ...any) {
		if bad {
			errs = append(errs, errorf(field, format, args...))
		}
	}
	check(o.Rate < 0 || o.Rate > 10e6, "rate", "rate %v out of range (0, 10000000] events/s", o.Rate)
	check(o.Buildings < 1 || o.Buildings > 100, "buildings", "buildings %d out of range 1..100", o.Buildings)
	check(o.Units < 1 || o.Units > 50, "units", "units %d out of range 1..50", o.Units)
	check(o.Households < 1 || o.Households > 200, "households", "households %d out of range 1..200", o.Households)
	check(o.Buildings*o.Units*o.Households > 100000, "households", "%d doors is too many (at most 100000)", o.Buildings*o.Units*o.Households)
	check(o.ObserveEvery < -1, "observe_every", "observe_every must be -1 (none) or a positive number")
	check(o.Compound == "" || strings.ContainsAny(o.Compound, "/ \t"), "compound", "compound %q must be one path segment", o.Compound)
	check(o.FireAt < 0, "fire_at", "fire_at may not be negative")
	check(o.FireBuilding < 1 || o.FireBuilding > o.Buildings, "fire_building", "fire_building %d: there are %d buildings", o.FireBuilding, o.Buildings)
	check(o.DoorOpenEvery < 0, "door_open_every", "door_open_every may not be negative")
	check(o.DoorOpenFor < 0, "door_open_for", "door_open_for may not be negative")
	check(o.FallEvery < 0, "fall_every", "fall_every may not be negative")
	return errors.Join(errs...)
}

// Driver is one simulated compound.
type Driver struct {
	name    string
	log     *slog.Logger
	clock   edge.Clock
	opts    Options
	gen     *generator // owned by Run's goroutine once it runs
	devices []edge.Device
	cmds    chan command

	emitted, dropped atomic.Uint64
}

// command is work for Run's goroutine: an event to emit as is, or a change
// of the simulation that yields an event.
type command struct {
	ev edge.Event
	f  func(g *generator) (edge.Event, bool)
}

// New is the "sim" driver's factory.
func New(env edge.Env, opts edge.Options) (edge.Driver, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	o.setDefaults()
	if err := o.validate(opts.Errorf); err != nil {
		return nil, err
	}
	return newDriver(env, o), nil
}

// NewDriver builds a simulated compound from options given in code (the
// demo, tests, benchmarks). Defaults are filled as from a config file.
func NewDriver(env edge.Env, o Options) (*Driver, error) {
	o.setDefaults()
	err := o.validate(func(field, format string, args ...any) error {
		return fmt.Errorf("sim: %s: %s", field, fmt.Sprintf(format, args...))
	})
	if err != nil {
		return nil, err
	}
	return newDriver(env, o), nil
}

func newDriver(env edge.Env, o Options) *Driver {
	if o.ObserveEvery < 0 {
		o.ObserveEvery = 0
	}
	d := &Driver{name: env.Name, log: env.Logger, clock: env.Clock, opts: o, cmds: make(chan command, 4096)}
	if d.name == "" {
		d.name = Name
	}
	if d.log == nil {
		d.log = edge.DiscardLogger()
	}
	if d.clock == nil {
		d.clock = edge.SystemClock{}
	}
	d.gen = newGenerator(&d.opts)
	d.devices = d.gen.devices(d.name)
	return d
}

// Devices lists the simulated devices.
func (d *Driver) Devices() []edge.Device {
	out := make([]edge.Device, len(d.devices))
	copy(out, d.devices)
	return out
}

// Emitted counts the events the sink accepted; Dropped those it refused.
func (d *Driver) Emitted() uint64 { return d.emitted.Load() }
func (d *Driver) Dropped() uint64 { return d.dropped.Load() }

var instances sync.Map // input name -> *Driver, while it runs

// Get returns the running sim driver of the input named name, so that the
// demo and tests can open a door or start a fire in a gateway they started
// from a config.
func Get(name string) (*Driver, bool) {
	v, ok := instances.Load(name)
	if !ok {
		return nil, false
	}
	return v.(*Driver), true
}
