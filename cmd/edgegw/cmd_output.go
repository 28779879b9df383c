package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		path, passwordFile string
		timeout            time.Duration
	)
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "/etc/edgegw/edgegw.yaml", "config `file`")
		fs.StringVar(&passwordFile, "password-file", "", "`file` holding the status page's password (or set EDGEGW_PASSWORD), when the local token cannot be read")
		fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	}
	app.Register(&cli.Command{
		Name:  "output test",
		Short: "drive one configured output once",
		Usage: `Drives one output of the config once with its test operation: a relay
or GPIO line pulses for a second, a voice module or LED sign gets a test
message, an SMS modem sends "edgegw test" to its default recipients.

On a box where the gateway runs, the test goes through the running gateway
(its status API at the config's status.listen), which holds the output's
port: no need to stop the service. Run it as root (or the service's user):
it then reads the gateway's local token from the data directory. Otherwise
give the status page's password with --password-file or EDGEGW_PASSWORD.

With no gateway answering, the command opens the output's port itself. A
port another program holds is refused, naming it: "port /dev/ttyUSB0 is in
use by minicom (pid 4242)".

Example:
  edgegw output test siren --config /etc/edgegw/edgegw.yaml

Exit status: 0 when the device accepted the command, 1 with the reason
when it did not, 69 when the port is held by another program, 78 for an
invalid config, 64 for a usage error.`,
		Flags: flags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			// Flags after the name too: "output test siren --config FILE".
			if len(args) > 1 {
				// Defining the flags again resets them to their defaults:
				// keep what came before the name.
				p, pf, to := path, passwordFile, timeout
				fs := flag.NewFlagSet("output test", flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				flags(fs)
				path, passwordFile, timeout = p, pf, to
				if err := fs.Parse(args[1:]); err != nil {
					return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
				}
				args = append(args[:1], fs.Args()...)
			}
			if len(args) != 1 {
				return i18n.Errorf(lang(), "%w: want exactly one output name", cli.ErrUsage)
			}
			useConfigLanguage(path)
			cfg, err := config.Load(path)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitBadConfig, Err: err}
			}
			pw, err := statusPassword(passwordFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			// The command says how it went; the output's own lines only
			// when they are errors (or the config asks for debug).
			lc := cfg.Log
			if lc.Level != "debug" {
				lc.Level = "error"
			}
			via, err := gateway.TestOutput(ctx, cfg, args[0], gateway.OutputTestOptions{
				Logger: newLogger(lc, env.Stderr), Password: pw})
			if err != nil {
				return i18n.Errorf(lang(), "through %s: %w", via, err)
			}
			i18n.Fprintf(env.Stdout, lang(), "output %q: ok (through %s)\n", args[0], via)
			return nil
		},
	})
}

// maxPasswordFile bounds a --password-file.
const maxPasswordFile = 4 << 10

// statusPassword is the status page's password for a command that drives
// the running gateway: the file's first line when a file is given, else
// $EDGEGW_PASSWORD.
func statusPassword(file string) (string, error) {
	if file == "" {
		return os.Getenv("EDGEGW_PASSWORD"), nil
	}
	b, err := edge.ReadFileLimit(file, maxPasswordFile)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
