package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var dir string
	app.Register(&cli.Command{
		Name:   "gen-man",
		Short:  "write the man pages (for the packages)",
		Hidden: true,
		Usage: `Writes a man page for edgegw and each of its commands into --dir.

Example:
  edgegw gen-man --dir dist/man`,
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", "man", "`directory` to write the pages into") },
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return app.Man(dir, env)
		},
	})
}
