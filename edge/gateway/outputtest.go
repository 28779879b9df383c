package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
)

// TestOutputOnce builds the outputs of cfg (only those) and drives output
// name once with its test operation, for `edgegw output test` on a box where
// the gateway is not running.
func TestOutputOnce(ctx context.Context, cfg *config.Config, name string, logger *slog.Logger) error {
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
		return fmt.Errorf("no output named %q in the config (outputs: %s)", name, strings.Join(names, ", "))
	}
	// Outputs keep their indexes (options are found by index in the file);
	// inputs and rules are left out.
	only := *cfg
	only.Inputs, only.Rules = nil, nil
	p, err := build(&only, logger, nil, nil)
	if err != nil {
		p.close()
		return err
	}
	defer p.close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	waits := p.runOutputs(runCtx, logger)
	defer func() {
		cancel()
		for _, w := range waits {
			w()
		}
	}()
	r := actions.New(actions.Options{Outputs: p.outputs, Logger: logger})
	return r.Test(ctx, name)
}
