package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		path          string
		ignoreCentral bool
	)
	app.Register(&cli.Command{
		Name:  "run",
		Short: "run the gateway in the foreground",
		Usage: `Runs the gateway with the given config until SIGINT or SIGTERM.

The first signal drains: drivers stop, every queued event is committed, the
rule engine and the uplink stop at a consistent point, the store closes.
A second signal aborts at once (nothing durable is lost: the log is
crash-safe).

If the central platform pushed a config that was applied before, the
gateway comes back to that one (it is kept in the data directory as
central-config.yaml); --ignore-central-config runs the local file instead.

Without --config it runs the packages' config (/etc/edgegw/edgegw.yaml,
%ProgramData%\edgegw\edgegw.yaml), or the file $EDGEGW_CONFIG names.

Example:
  edgegw run --config /etc/edgegw/edgegw.yaml

Exit status (the service manager's restart policy reads it):
  0   clean shutdown after SIGINT/SIGTERM
  1   a runtime failure not listed here (the log says which)
  2   a crash: a bug, with a Go stack trace on stderr (the Go runtime's code)
  64  usage error (bad flags or arguments)
  69  a serial port is in use by another process
  73  the store cannot be opened (store.dir not a writable directory,
      a damaged store)
  75  the disk is full; the service manager retries
  78  the config is invalid or cannot be read; every problem is printed as
      file:line:col: field: message. systemd does not restart on it.
  130 aborted by a second SIGINT/SIGTERM during the drain
Details and the restart policy: docs/install.md, "Exit codes".`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "config", "", i18n.Sprintf(app.FlagLang(), "config `file` (default: %s, or $EDGEGW_CONFIG)", service.DefaultConfigPath()))
			fs.BoolVar(&ignoreCentral, "ignore-central-config", false, "run the local config even if the central platform pushed a newer one")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if path == "" {
				path = service.DefaultConfigPath()
			}
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			return runConfigFile(ctx, path, ignoreCentral, env.Stderr)
		},
	})
}

// runConfigFile loads, checks and runs a config file until ctx ends. The
// service manager (cmd_service.go) runs the gateway through it too.
func runConfigFile(ctx context.Context, path string, ignoreCentral bool, stderr io.Writer) error {
	useConfigLanguage(path)
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, i18n.ErrorText(lang(), err))
		return &cli.ExitError{Code: cli.ExitCode(err), Err: i18n.Errorf(lang(), "%s is not valid", path)}
	}
	return runGateway(ctx, runOptions{Config: cfg, ConfigPath: path, IgnoreCentral: ignoreCentral, Stderr: stderr})
}

// newLogger builds the process logger from the config's log section.
func newLogger(c config.Log, w io.Writer, extra ...slog.Handler) *slog.Logger {
	lvl := slog.LevelInfo
	switch c.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	if len(extra) > 0 {
		h = slog.NewMultiHandler(append([]slog.Handler{h}, extra...)...)
	}
	return slog.New(h)
}
