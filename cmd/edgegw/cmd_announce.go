package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os/user"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		path, passwordFile, note string
		window, timeout          time.Duration
		withdraw                 bool
	)
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", i18n.Sprintf(app.FlagLang(), "config `file` (default: %s, or $EDGEGW_CONFIG)", service.DefaultConfigPath()))
		fs.DurationVar(&window, "for", 0, "the window: the door may open during this long from now, such as 2h")
		fs.StringVar(&note, "note", "", "why: doctor's visit, delivery (kept with the event)")
		fs.BoolVar(&withdraw, "withdraw", false, "withdraw the device's announcement")
		fs.StringVar(&passwordFile, "password-file", "", "`file` holding the status page's password (or set EDGEGW_PASSWORD), when the local token cannot be read")
		fs.DurationVar(&timeout, "timeout", 15*time.Second, "give up after this long")
	}
	app.Register(&cli.Command{
		Name:  "announce",
		Short: "announce an expected door opening (a doctor's visit, a delivery)",
		Usage: `Announces that a household's door is expected to open during a window: a
doctor's visit, a carer, a delivery. The opening is recorded, and rules
that test announced(device) do not alert for it. The announcement is an
event in the gateway's log: it syncs to the central platform and survives
restarts. --withdraw ends it early.

It goes through the running gateway's status API (the config's
status.listen). Run it as root (or the service's user) to use the
gateway's local token, or give the status page's password with
--password-file or EDGEGW_PASSWORD.

Examples:
  edgegw announce door-1201 --for 2h --note "doctor's visit"
  edgegw announce door-1201 --withdraw

Exit status: 0 when the gateway took it, 1 when it refused it (an unknown
device, a window over 7 days) or does not answer, 78 for an invalid
config, 64 for a usage error.`,
		Flags: flags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			// Flags after the device too: "announce door-1 --for 2h".
			if len(args) > 1 {
				p, pf, n, w, to, wd := path, passwordFile, note, window, timeout, withdraw
				fs := flag.NewFlagSet("announce", flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				flags(fs)
				path, passwordFile, note, window, timeout, withdraw = p, pf, n, w, to, wd
				if err := fs.Parse(args[1:]); err != nil {
					return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
				}
				args = append(args[:1], fs.Args()...)
			}
			if len(args) != 1 {
				return i18n.Errorf(lang(), "%w: want exactly one device id", cli.ErrUsage)
			}
			if (window <= 0) == !withdraw {
				return i18n.Errorf(lang(), "%w: give --for DURATION (such as 2h) or --withdraw", cli.ErrUsage)
			}
			if path == "" {
				path = service.DefaultConfigPath()
			}
			cfg, err := config.Load(path)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitBadConfig, Err: err}
			}
			pw, err := statusPassword(passwordFile)
			if err != nil {
				return err
			}
			by := "cli"
			if u, err := user.Current(); err == nil {
				by = "cli:" + u.Username
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			via, err := gateway.AnnounceRemote(ctx, cfg, status.AnnounceRequest{Device: args[0], For: window.String(), Note: note, By: by}, pw)
			if err != nil {
				if errors.Is(err, status.ErrNotRunning) {
					return i18n.Errorf(lang(), "no gateway answers at %s: start it first (%w)", via, err)
				}
				return i18n.Errorf(lang(), "through %s: %w", via, err)
			}
			if withdraw {
				i18n.Fprintf(env.Stdout, lang(), "announcement of %s withdrawn (through %s)\n", args[0], via)
			} else {
				i18n.Fprintf(env.Stdout, lang(), "opening of %s announced for %v (through %s)\n", args[0], window, via)
			}
			return nil
		},
	})
}
