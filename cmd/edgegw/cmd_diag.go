package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		target statusTarget
		out    string
	)
	app.Register(&cli.Command{
		Name:  "diag",
		Short: "write a support bundle (zip): config without secrets, logs, status, versions",
		Usage: `Writes a zip for support, at most 8 MiB before compression:
  MANIFEST.txt          what is in it, what was cut to fit, what is missing and why
  version.json          this binary's version, Go version, OS/arch
  config.yaml           the config, with every secret replaced by "<redacted>"
                        (the uplink key, password_hash, PINs, tokens, phone
                        numbers, any field named like key, secret, password
                        or token); secret values are scrubbed from the other
                        files too
  central-config.yaml   the config last pushed by the central platform, redacted
  status.json           the running gateway's status (devices, alerts, sync, store)
  logs.txt              the gateway's recent log lines (the newest kept)
  metrics.txt           /metrics
  store.txt             store statistics, or the data directory's files when the
                        gateway is not running
It asks the running gateway's status API (like 'edgegw status'); when the
gateway is not running it still writes what it can from --config. The
central platform gets the same bundle with its send_diagnostics command.

Examples:
  edgegw diag --config /etc/edgegw/edgegw.yaml
  edgegw diag --url http://127.0.0.1:8780 --out /tmp/site12.zip`,
		Flags: func(fs *flag.FlagSet) {
			target.flags(fs)
			fs.StringVar(&out, "out", "", "zip `file` to write (default: edgegw-diag-<time>.zip here)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			if target.configPath == "" {
				if p := service.DefaultConfigPath(); fileExists(p) {
					target.configPath = p
				}
			}
			if out == "" {
				out = "edgegw-diag-" + time.Now().UTC().Format("20060102-150405") + ".zip"
			}
			o := gateway.DiagOptions{ConfigPath: target.configPath}
			if c, err := target.client(); err != nil {
				o.NotRunning = err
			} else {
				o.Source = c
			}
			cctx, cancel := context.WithTimeout(ctx, target.timeout)
			defer cancel()
			b := gateway.CollectDiagnostics(cctx, o)
			zip, err := b.Zip()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, zip, 0o600); err != nil {
				return err
			}
			i18n.Fprintf(env.Stdout, lang(), "wrote %s (%d files, %d bytes)\n", out, len(b.Names()), len(zip))
			for _, m := range b.Truncated {
				i18n.Fprintf(env.Stdout, lang(), "  truncated: %s\n", m)
			}
			for _, m := range b.Missing {
				i18n.Fprintf(env.Stdout, lang(), "  missing: %s\n", m)
			}
			return nil
		},
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
