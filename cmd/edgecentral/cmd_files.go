package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type filesFlags struct {
	adminFlags
	out string
}

var filesOpts *filesFlags

func init() {
	app.Register(&cli.Command{
		Name:  "files get",
		Short: "download a file a gateway uploaded (a camera's alarm picture)",
		Usage: `Downloads file NAME that GATEWAY uploaded: the pictures of camera alarms,
named by the event whose point ends in _picture (its text is the file name,
its value the size in bytes: see 'edgecentral events --json'). A gateway
uploads its pictures at the lowest priority, after its events, so a new
alarm's picture can take a moment to arrive (404 until then).

Example:
  edgecentral files get gw-compound-7 cam-b5-roof_20261206T033110.445Z_0001.jpg --out fall.jpg`,
		Flags: func(fs *flag.FlagSet) {
			filesOpts = &filesFlags{adminFlags: *newAdminFlags()}
			filesOpts.adminFlags.bind(fs)
			fs.StringVar(&filesOpts.out, "out", "", "file to write to (default: NAME here)")
		},
		Run: runFilesGet,
	})
}

func runFilesGet(ctx context.Context, env *cli.Env, args []string) error {
	o := filesOpts
	if len(args) != 2 {
		return usageErr("want GATEWAY and NAME, got %d arguments", len(args))
	}
	gw, name := args[0], args[1]
	if !receiver.ValidGatewayID(gw) {
		return usageErr("gateway %q: want 1 to 64 of A-Z a-z 0-9 . _ -", gw)
	}
	if !wire.ValidFileName(name) {
		return usageErr("file name %q: want 1 to 128 of A-Z a-z 0-9 . _ -, not starting with a dot", name)
	}
	b, err := o.raw(ctx, "GET", "/v1/admin/files/"+url.PathEscape(gw)+"/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = name
	}
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes)\n", out, len(b))
	return nil
}
