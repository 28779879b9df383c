package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	app.Register(&cli.Command{
		Name:  "validate",
		Short: "check a config file; every problem with file:line",
		Usage: `Checks a config file the way 'edgegw run' would, without starting
anything: strict YAML (unknown keys are errors), types, required fields,
duplicate names and device ids, every driver's and output's own options,
every rule expression compiled.

Every problem is printed on its own line as
  file:line:col: field: message

Example:
  edgegw validate /etc/edgegw/edgegw.yaml

Exit status: 0 when the config is valid, 2 when it is not (or cannot be read).`,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: want exactly one config file", cli.ErrUsage)
			}
			cfg, err := config.Load(args[0])
			if err == nil {
				err = gateway.Check(cfg)
			}
			if err != nil {
				fmt.Fprintln(env.Stderr, err)
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("%s is not valid", args[0])}
			}
			fmt.Fprintf(env.Stdout, "%s: ok (%d inputs, %d outputs, %d rules)\n", args[0], len(cfg.Inputs), len(cfg.Outputs), len(cfg.Rules))
			return nil
		},
	})
}

var _ = flag.ErrHelp
