package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
)

// parts are the pieces of a config that are rebuilt on every reload: the
// drivers, the outputs and the rule set. The store, the status server and
// the uplink live across reloads.
type parts struct {
	cfg     *config.Config
	inputs  []namedDriver
	outputs map[string]edge.Output
	rules   *rules.Set
	devices []edge.Device
}

type namedDriver struct {
	name   string
	driver edge.Driver
}

// Check builds everything a config describes without starting anything:
// every driver and output factory runs its own validation, device ids are
// checked across inputs (config.CheckDrivers), and every rule expression is
// compiled. It is what `edgegw validate`, `edgegw run` and a config bundle
// from the central platform go through before they may be applied.
func Check(cfg *config.Config) error {
	var errs []error
	if err := config.CheckDrivers(cfg); err != nil {
		errs = append(errs, err)
	}
	if _, err := rules.CompileRules(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// build makes the parts of a config that Check accepted.
func build(cfg *config.Config, logger *slog.Logger, state edge.StateStore, clk edge.Clock) (*parts, error) {
	if logger == nil {
		logger = edge.DiscardLogger()
	}
	if clk == nil {
		clk = edge.SystemClock{}
	}
	p := &parts{cfg: cfg, outputs: map[string]edge.Output{}}
	var errs []error
	for i, in := range cfg.Inputs {
		f, err := edge.LookupDriver(in.Driver)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("inputs[%d].driver", i), "%v", err))
			continue
		}
		env := edge.Env{Name: in.Name, Logger: logger.With("input", in.Name), Clock: clk, State: state}
		d, err := f(env, cfg.InputOptions(i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, dev := range d.Devices() {
			if dev.Driver == "" {
				dev.Driver = in.Name
			}
			p.devices = append(p.devices, dev)
		}
		p.inputs = append(p.inputs, namedDriver{in.Name, d})
	}
	for i, out := range cfg.Outputs {
		f, err := edge.LookupOutput(out.Driver)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("outputs[%d].driver", i), "%v", err))
			continue
		}
		env := edge.Env{Name: out.Name, Logger: logger.With("output", out.Name), Clock: clk, State: state}
		o, err := f(env, cfg.OutputOptions(i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.outputs[out.Name] = o
	}
	set, err := rules.CompileRules(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	p.rules = set
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	return p, nil
}

// close releases what the factories opened (nothing runs yet).
func (p *parts) close() {
	for _, in := range p.inputs {
		if c, ok := in.driver.(edge.Closer); ok {
			_ = c.Close()
		}
	}
	for _, o := range p.outputs {
		if c, ok := o.(edge.Closer); ok {
			_ = c.Close()
		}
	}
}

// runOutputs runs the outputs that need a goroutine (an SMS modem's queue).
func (p *parts) runOutputs(ctx context.Context, logger *slog.Logger) []func() {
	var waits []func()
	for name, o := range p.outputs {
		r, ok := o.(edge.Runner)
		if !ok {
			continue
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("output stopped", "output", name, "err", err)
			}
		}()
		waits = append(waits, func() { <-done })
	}
	return waits
}
