package main

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/update"
	"github.com/edgegw/edgegw/internal/version"
)

func init() {
	var cfgPath string
	var asJSON bool
	app.Register(&cli.Command{
		Name:  "update status",
		Short: "show the self-update state: running, previous, staged and broken versions",
		Usage: `Reads the update directory of the config (update.dir, default
<store.dir>/update) and prints the version the service runs, the previous
one, a staged one and its trial attempts, a broken (rolled back) one, the
versions kept, partial downloads and the reports not yet delivered to the
central platform. It reads files only: the gateway need not run.

Example:
  edgegw update status --config /etc/edgegw/edgegw.yaml
  edgegw update status --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfgPath, "config", service.DefaultConfigPath(), "gateway config `file`")
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			useConfigLanguage(cfgPath)
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			l, err := update.ReadLocal(update.Dir(cfg.Update.Dir), version.Version)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			return l.Print(env.Stdout, lang())
		},
	})
}
