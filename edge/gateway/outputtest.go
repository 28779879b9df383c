package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/status"
)

// OutputTestOptions say how `edgegw output test` reaches the gateway.
type OutputTestOptions struct {
	// Logger for the outputs when the command drives one itself.
	Logger *slog.Logger
	// Password is the status page's technician password, used when the
	// local token cannot be read (not root, not the service's user).
	Password string
}

// TestOutput drives output name once with its test operation, for `edgegw
// output test`. When a gateway answers at cfg's status address it goes
// through that gateway (POST /api/outputs/{name}/test, authenticated with
// the local token the gateway keeps in its data directory, or the
// password): the gateway holds the output's port, and technicians can test
// without stopping the service. When none answers, the command builds the
// output and drives it itself (TestOutputOnce); a port another process
// holds is then refused with an error wrapping edge.ErrPortInUse.
//
// via says which way it went, for the technician (an edge.Message, so
// that the CLI prints it in the technician's language).
func TestOutput(ctx context.Context, cfg *config.Config, name string, o OutputTestOptions) (via *edge.Message, err error) {
	via = viaf("this command (status.listen is off)")
	if !cfg.Status.Disabled() {
		base := status.URLFromListen(cfg.Status.Listen)
		c := &status.Client{BaseURL: base, Password: o.Password}
		if tok, err := status.ReadLocalToken(filepath.Join(cfg.Store.Dir, status.LocalTokenFile)); err == nil {
			c.LocalToken = tok
		}
		err := c.TestOutput(ctx, name)
		if !errors.Is(err, status.ErrNotRunning) {
			return viaf("the running gateway at %s", base), err
		}
		via = viaf("this command (no gateway answers at %s)", base)
	}
	return via, TestOutputOnce(ctx, cfg, name, o.Logger)
}

// TestOutputOnce builds output name of cfg alone and drives it once with
// its test operation, for `edgegw output test` on a box where the gateway
// is not running. Only that output is built and run: testing the siren
// must not open the LED sign's port or wake the SMS modem.
func TestOutputOnce(ctx context.Context, cfg *config.Config, name string, logger *slog.Logger) error {
	if logger == nil {
		logger = edge.DiscardLogger()
	}
	idx := -1
	var names []string
	for i, o := range cfg.Outputs {
		names = append(names, o.Name)
		if o.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		sort.Strings(names)
		return edge.Msgf("no output named %q in the config (outputs: %s)", name, strings.Join(names, ", "))
	}
	oc := cfg.Outputs[idx]
	f, err := edge.LookupOutput(oc.Driver)
	if err != nil {
		return cfg.Errorf(fmt.Sprintf("outputs[%d].driver", idx), "%v", err)
	}
	out, err := f(edge.Env{Name: name, Logger: logger.With("output", name), Clock: edge.SystemClock{}}, cfg.OutputOptions(idx))
	if err != nil {
		return err
	}
	if c, ok := out.(edge.Closer); ok {
		defer c.Close()
	}
	if r, ok := out.(edge.Runner); ok {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.Run(runCtx); err != nil && runCtx.Err() == nil {
				logger.Error("output stopped", "output", name, "err", err)
			}
		}()
		defer func() { cancel(); <-done }()
	}
	r := actions.New(actions.Options{Outputs: map[string]edge.Output{name: out}, Logger: logger})
	return r.Test(ctx, name)
}

// viaf is an edge.Message (edge/i18n's catalog has its formats).
func viaf(format string, args ...any) *edge.Message {
	return &edge.Message{Format: format, Args: args}
}
