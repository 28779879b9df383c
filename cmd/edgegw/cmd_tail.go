package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		o  status.TailOptions
		st statusTarget
	)
	app.Register(&cli.Command{
		Name:  "tail",
		Short: "follow the events the gateway stores, as they are made durable",
		Usage: `Prints the running gateway's events as they are stored, one line each:

  SEQ  TIME  KIND  DEVICE/POINT  VALUE-OR-TEXT

A ? after the time: the gateway's clock was not trusted when it stamped the
event. By default it starts with new events; --from-start begins with the
oldest the store holds. --json prints each event as the gateway stores it
(one JSON object per line), for scripts. Ctrl-C stops it. The gateway is
found as for 'edgegw status' (--url, --config, the packages' config).

Examples:
  edgegw tail
  edgegw tail --from-start --follow=false --json
  edgegw tail --config /etc/edgegw/edgegw.yaml

Exit status: 0 when stopped, 3 when no gateway answers, 1 on another error,
64 for a usage error.`,
		Flags: func(fs *flag.FlagSet) {
			st.flags(fs)
			fs.BoolVar(&o.JSON, "json", false, "one JSON event per line")
			fs.BoolVar(&o.FromStart, "from-start", false, "start with the oldest stored event")
			fs.BoolVar(&o.Follow, "follow", true, "keep following; --follow=false prints what is stored and exits")
			fs.DurationVar(&o.Interval, "interval", time.Second, "how often to ask for new events")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			c, err := st.client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = status.Tail(ctx, c, env.Stdout, o)
			if errors.Is(err, status.ErrNotRunning) {
				return &cli.ExitError{Code: status.ExitNotRunning, Err: err}
			}
			return err
		},
	})
}
