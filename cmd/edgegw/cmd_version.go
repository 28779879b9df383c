package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/version"
)

func init() {
	var asJSON bool
	app.Register(&cli.Command{
		Name:  "version",
		Short: "print the version, commit and build date",
		Usage: `Prints the version, the commit and the build date stamped into this binary
(scripts/build-all.sh sets them with -ldflags -X), and the Go version and
platform. A plain 'go build' says "dev".

Example:
  edgegw version
  edgegw version --json`,
		Flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print as JSON") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: version takes no arguments", cli.ErrUsage)
			}
			v := version.Get()
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				// The store schemas travel with the version: what a release
				// writes, and the newest it reads (edge/store).
				return enc.Encode(struct {
					version.Info
					StoreSchema int `json:"store_schema"`
					ReadsStore  int `json:"reads_store"`
				}{v, store.SchemaVersion, store.ReadsSchema})
			}
			_, err := fmt.Fprintln(env.Stdout, v.String())
			return err
		},
	})
}
