package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		path    string
		timeout time.Duration
	)
	app.Register(&cli.Command{
		Name:  "output test",
		Short: "drive one configured output once",
		Usage: `Drives one output of the config once with its test operation: a relay
or GPIO line pulses for a second, a voice module or LED sign gets a test
message, an SMS modem sends "edgegw test" to its default recipients.

Stop the gateway service first: the output's serial port can only be
opened by one program at a time. (On a running gateway, use the Test
button on the status page instead.)

Example:
  edgegw output test siren --config /etc/edgegw/edgegw.yaml

Exit status: 0 when the device accepted the command, 1 with the reason
when it did not, 78 when the config is invalid, 64 for a usage error.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "config", "/etc/edgegw/edgegw.yaml", "config `file`")
			fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: want exactly one output name", cli.ErrUsage)
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err // a *config.Error: exit 78
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			logger := newLogger(cfg.Log, env.Stderr)
			if err := gateway.TestOutputOnce(ctx, cfg, args[0], logger); err != nil {
				return fmt.Errorf("output %q: %w", args[0], err)
			}
			fmt.Fprintf(env.Stdout, "output %q: ok\n", args[0])
			return nil
		},
	})
}
