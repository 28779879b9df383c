package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/update"
	"github.com/edgegw/edgegw/internal/version"
)

const serviceUsage = `Manages edgegw as an OS service: systemd on Linux (a SysV init script on a
Linux box without systemd), the Service Control Manager on Windows. (The
technician's health check is 'edgegw status'; the service manager's view is
'edgegw service status'.) The .deb and the Windows zip's install.ps1 already
set the service up: with the .deb, 'systemctl enable --now edgegw' once the
config is edited and 'edgegw validate' passes (docs/install.md).

  edgegw service install   --config FILE   install (and enable at boot)
  edgegw service uninstall --config FILE   remove the service (config and data stay)
  edgegw service start|stop|restart        control it
  edgegw service status                    running, stopped or not installed
  edgegw service unit --config FILE        print the systemd unit install would write

Linux: the unit restarts the gateway 2 s after any exit but an invalid
config (78) or a usage error (64), does not wait for the network
(offline-first), logs to the journal (journalctl -u edgegw), and is
sandboxed with access to serial ports (ttyUSB, ttyACM, ttyS, ttyAMA) and
GPIO chips. It runs as user edgegw (groups dialout, gpio) when that user
exists (the .deb makes it), else as root. Needs root. On a Linux box
without systemd, install writes a SysV script, /etc/init.d/edgegw, that
also runs the gateway as user edgegw (through setpriv), logging to
/var/log/edgegw.log and /var/log/edgegw.err.

Windows: automatic start, restart 5 s after a crash (recovery actions),
logs in the Event Log (source "edgegw"), data in %ProgramData%\edgegw.
Needs an elevated prompt. The zip's install.ps1 does all of it (with the
Windows example config, 'edgegw init --windows'); uninstall.ps1 undoes it.

The service runs 'edgegw service run --config FILE', which runs the gateway
like 'edgegw run' and drains within the service manager's stop timeout.`

func init() {
	for _, action := range []string{"install", "uninstall", "start", "stop", "restart"} {
		action := action
		var cfg string
		app.Register(&cli.Command{
			Name:  "service " + action,
			Short: action + " the OS service (systemd, SysV init or Windows SCM)",
			Usage: serviceUsage,
			Flags: func(fs *flag.FlagSet) {
				fs.StringVar(&cfg, "config", service.DefaultConfigPath(), "gateway config `file` the service runs")
			},
			Run: func(ctx context.Context, env *cli.Env, args []string) error {
				st, err := serviceSettings(cfg, args)
				if err != nil {
					return err
				}
				if err := service.Control(st, action); err != nil {
					return err
				}
				i18n.Fprintf(env.Stdout, lang(), "edgegw service: %s done (%s)\n", action, service.Platform())
				return nil
			},
		})
	}

	var statusCfg string
	app.Register(&cli.Command{
		Name:  "service status",
		Short: "show whether the OS service is installed and running",
		Usage: serviceUsage + "\n\nExit status: 0 running, 3 stopped, 4 not installed, 1 unknown.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&statusCfg, "config", service.DefaultConfigPath(), "gateway config `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			st, err := serviceSettings(statusCfg, args)
			if err != nil {
				return err
			}
			word, err := service.Status(st)
			i18n.Fprintf(env.Stdout, lang(), "edgegw service: %s (%s)\n", word, service.Platform())
			switch {
			case err != nil:
				return err
			case word == "running":
				return nil
			case word == "stopped":
				return &cli.ExitError{Code: 3}
			case word == "not installed":
				return &cli.ExitError{Code: 4}
			}
			return &cli.ExitError{Code: 1}
		},
	})

	var unitCfg string
	app.Register(&cli.Command{
		Name:  "service unit",
		Short: "print the systemd unit 'service install' writes",
		Usage: serviceUsage,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&unitCfg, "config", service.DefaultConfigPath(), "gateway config `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			st, err := serviceSettings(unitCfg, args)
			if err != nil {
				return err
			}
			if st.Executable, err = executable(); err != nil {
				return err
			}
			u, err := service.Unit(st)
			if err != nil {
				return err
			}
			_, err = io.WriteString(env.Stdout, u)
			return err
		},
	})

	var runCfg string
	app.Register(&cli.Command{
		Name:  "service run",
		Short: "run the gateway under the service manager (what the service starts)",
		Usage: `Runs the gateway from the config under the OS service manager: what the
installed service executes. Started by hand it behaves like 'edgegw run'.
A stop request cancels the gateway, which drains (drivers stop, queued
events are committed, the store closes) within the stop timeout (20 s on
Linux, 15 s on Windows). If the gateway stops by itself the process exits
with the code that says why ('edgegw run --help'), which the service
manager's restart policy reads: an invalid config (78) is not restarted
(under the Windows SCM the service is stopped instead), other failures are.

It is also the self-update loader (update.keys, 'edgegw update status'):
once a release from the central platform is installed it runs that version
as a child process, tries a newly downloaded one until it proves healthy,
and rolls it back to the previous one when it does not.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&runCfg, "config", service.DefaultConfigPath(), "gateway config `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			st, err := serviceSettings(runCfg, args)
			if err != nil {
				return err
			}
			return service.Run(st, func(ctx context.Context, logOut io.Writer) error {
				return runLoader(ctx, st, logOut)
			})
		},
	})
}

// runLoader runs the gateway through the self-update loader
// (internal/update): in-process when no update was ever installed, else
// the committed version or the staged one on trial, as a child process.
func runLoader(ctx context.Context, st service.Settings, logOut io.Writer) error {
	run := func(ctx context.Context) error {
		useConfigLanguage(st.ConfigPath)
		cfg, err := config.Load(st.ConfigPath)
		if err != nil {
			return runConfigFile(ctx, st.ConfigPath, false, logOut) // reports the error
		}
		return runGateway(ctx, runOptions{Config: cfg, ConfigPath: st.ConfigPath, Stderr: logOut, Updates: true})
	}
	if update.IsChild() {
		var cancel context.CancelFunc
		ctx, cancel = update.ChildContext(ctx)
		defer cancel()
	}
	cfg, err := config.Load(st.ConfigPath)
	if err != nil {
		return run(ctx)
	}
	l := update.NewLoader(cfg, st.Arguments(), version.Version, st.Timeout()-2*time.Second, logOut,
		newLogger(cfg.Log, logOut).With("component", "loader"))
	return l.Run(ctx, run)
}

func serviceSettings(cfg string, args []string) (service.Settings, error) {
	if len(args) > 0 {
		return service.Settings{}, i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
	}
	if cfg == "" {
		return service.Settings{}, i18n.Errorf(lang(), "%w: --config FILE is required", cli.ErrUsage)
	}
	abs, err := filepath.Abs(cfg)
	if err != nil {
		return service.Settings{}, err
	}
	return service.Settings{ConfigPath: abs, UserName: service.DetectUser()}, nil
}

// executable is this binary's resolved path, as the service manager must
// start it.
func executable() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}
