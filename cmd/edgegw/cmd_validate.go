package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/update"
)

func init() {
	app.Register(&cli.Command{
		Name:  "validate",
		Short: "check a config file; every problem with file:line",
		Usage: `Checks a config file the way 'edgegw run' would, without starting
anything: strict YAML (unknown keys are errors), types, required fields,
duplicate names and device ids, every driver's and output's own options,
every rule expression compiled.

Every problem of the file is printed on its own line, sorted by line, as
  file:line:col: field: message
at most 49 of them and then "... and N more problems". A YAML syntax error
stops the check at the first one. Files larger than 4 MiB, that are not
UTF-8 text, or past the limits on tokens, nesting and aliases are refused
with one line saying so (docs/hardening.md, section 6).

Without a file it checks the packages' config (/etc/edgegw/edgegw.yaml,
%ProgramData%\edgegw\edgegw.yaml), or the file $EDGEGW_CONFIG names.

Example:
  edgegw validate /etc/edgegw/edgegw.yaml

Exit status: 0 when the config is valid, 78 when it is not or cannot be
read, 64 for a usage error.`,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) == 0 {
				args = []string{service.DefaultConfigPath()}
			}
			if len(args) != 1 {
				return i18n.Errorf(lang(), "%w: want one config file", cli.ErrUsage)
			}
			useConfigLanguage(args[0])
			cfg, err := config.LoadChecked(args[0], checkConfig)
			if err != nil {
				fmt.Fprintln(env.Stderr, i18n.ErrorText(lang(), err))
				return &cli.ExitError{Code: cli.ExitCode(err), Err: errors.New(i18n.T(lang(), "cli.not_valid", map[string]any{"File": args[0]}))}
			}
			fmt.Fprintln(env.Stdout, i18n.T(lang(), "cli.valid", map[string]any{"File": args[0],
				"Inputs": len(cfg.Inputs), "Outputs": len(cfg.Outputs), "Rules": len(cfg.Rules)}))
			return nil
		},
	})
}

// checkConfig is the deep check of `edgegw validate`: drivers, outputs,
// rules, and the update section's release keys.
func checkConfig(c *config.Config) error {
	err, uerr := gateway.Check(c), update.CheckConfig(c)
	switch {
	case err == nil:
		return uerr
	case uerr == nil:
		return err
	}
	return config.Join(err, uerr)
}
