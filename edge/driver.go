package edge

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Sink receives a driver's events. Emit stamps the event and queues it for
// the next group commit; it returns once the event is queued, not once it is
// durable, so a slow disk costs a driver at most a bounded wait. It returns
// an error only when the gateway is shutting down or the queue stays full
// past its bound; the driver counts that and carries on.
type Sink interface {
	Emit(ev Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event) error

func (f SinkFunc) Emit(ev Event) error { return f(ev) }

// Driver reads one instance of a device family (one serial port, one Modbus
// bus, one GPIO chip, one simulated compound). Run reads until ctx ends and
// returns nil then; any other return is logged and the driver is restarted
// with backoff. A driver reports its devices' online/offline state itself,
// as KindStatus events.
type Driver interface {
	// Devices lists the devices this driver serves, with their metadata.
	Devices() []Device
	Run(ctx context.Context, sink Sink) error
}

// Options gives a driver its part of the config file. Decode is strict:
// unknown keys are errors. Every error it returns names file:line.
type Options interface {
	Decode(v any) error
	// Errorf returns an error that names the file:line of field, a path
	// relative to the driver's options such as "devices[2].slave".
	Errorf(field, format string, args ...any) error
}

// Env is what a driver or output gets from the gateway besides its options.
type Env struct {
	Name   string // the input or output name from the config
	Logger Logger // scoped with the name
	Clock  Clock
	State  StateStore // small durable key/value space, for pulses and the like; may be nil in tools
}

// DriverFactory builds a driver from its options. It validates everything
// it can, so that `edgegw validate` catches mistakes before `run`.
type DriverFactory func(env Env, opts Options) (Driver, error)

// OutputFactory builds an output from its options.
type OutputFactory func(env Env, opts Options) (Output, error)

var (
	regMu   sync.RWMutex
	drivers = map[string]DriverFactory{}
	outputs = map[string]OutputFactory{}
)

// RegisterDriver makes a driver available under name. It panics on an empty
// or duplicate name; call it from init.
func RegisterDriver(name string, f DriverFactory) {
	regMu.Lock()
	defer regMu.Unlock()
	if name == "" || f == nil {
		panic("edge: RegisterDriver with empty name or nil factory")
	}
	if _, dup := drivers[name]; dup {
		panic("edge: RegisterDriver called twice for " + name)
	}
	drivers[name] = f
}

// RegisterOutput makes an output kind available under name.
func RegisterOutput(name string, f OutputFactory) {
	regMu.Lock()
	defer regMu.Unlock()
	if name == "" || f == nil {
		panic("edge: RegisterOutput with empty name or nil factory")
	}
	if _, dup := outputs[name]; dup {
		panic("edge: RegisterOutput called twice for " + name)
	}
	outputs[name] = f
}

// LookupDriver returns the factory registered under name.
func LookupDriver(name string) (DriverFactory, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := drivers[name]
	if !ok {
		return nil, fmt.Errorf("unknown driver %q (known: %v)", name, sortedKeys(drivers))
	}
	return f, nil
}

// LookupOutput returns the output factory registered under name.
func LookupOutput(name string) (OutputFactory, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := outputs[name]
	if !ok {
		return nil, fmt.Errorf("unknown output driver %q (known: %v)", name, sortedKeys(outputs))
	}
	return f, nil
}

// Drivers lists the registered driver names, sorted.
func Drivers() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return sortedKeys(drivers)
}

// Outputs lists the registered output driver names, sorted.
func Outputs() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return sortedKeys(outputs)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
