package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type diagFlags struct {
	adminFlags
	command uint64
	out     string
}

var diagOpts *diagFlags

func (o *diagFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.Uint64Var(&o.command, "command", o.command, "the send_diagnostics command whose bundle to get (default: the newest uploaded)")
	fs.StringVar(&o.out, "out", o.out, "file to write the zip to (default: diagnostics-GATEWAY-COMMAND.zip here)")
}

func newDiagFlags(fs *flag.FlagSet) {
	diagOpts = &diagFlags{adminFlags: *newAdminFlags()}
	diagOpts.bind(fs)
}

func init() {
	app.Register(&cli.Command{
		Name:  "diagnostics request",
		Short: "ask a gateway for its diagnostics bundle",
		Usage: `Queues a send_diagnostics command for GATEWAY. At its next poll the gateway
builds its support bundle (config without secrets, logs, status; at most
4 MiB as a zip) and uploads it with the command's result; then
'edgecentral diagnostics get GATEWAY' downloads it.

Example:
  edgecentral diagnostics request gw-compound-7`,
		Flags: newDiagFlags,
		Run:   runDiagRequest,
	})
	app.Register(&cli.Command{
		Name:  "diagnostics list",
		Short: "list a gateway's diagnostics bundles",
		Usage: `Lists GATEWAY's send_diagnostics commands, newest first: when queued, when
answered, the size of the bundle or why the gateway could not send it.

Example:
  edgecentral diagnostics list gw-compound-7`,
		Flags: newDiagFlags,
		Run:   runDiagList,
	})
	app.Register(&cli.Command{
		Name:  "diagnostics get",
		Short: "download a gateway's diagnostics bundle (zip)",
		Usage: `Downloads the newest diagnostics bundle GATEWAY uploaded (or the one of
--command ID) to --out.

Examples:
  edgecentral diagnostics get gw-compound-7 --out site7.zip
  edgecentral diagnostics get gw-compound-7 --command 42`,
		Flags: newDiagFlags,
		Run:   runDiagGet,
	})
}

// gatewayArg returns the one positional GATEWAY argument.
func gatewayArg(args []string, bind func(*flag.FlagSet)) (string, error) {
	pos := args
	if len(pos) != 1 {
		return "", usageErr("want exactly one GATEWAY, got %d arguments", len(pos))
	}
	if !receiver.ValidGatewayID(pos[0]) {
		return "", usageErr("gateway %q: want 1 to 64 of A-Z a-z 0-9 . _ -", pos[0])
	}
	return pos[0], nil
}

func runDiagRequest(ctx context.Context, env *cli.Env, args []string) error {
	o := diagOpts
	gw, err := gatewayArg(args, o.bind)
	if err != nil {
		return err
	}
	var c wire.Command
	if err := o.call(ctx, "POST", "/v1/admin/commands", receiver.AddCommandRequest{Gateway: gw, Type: wire.CmdSendDiagnostics}, &c); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "diagnostics requested from gateway %s (command %d); get it with: edgecentral diagnostics get %s\n", gw, c.ID, gw)
	return nil
}

func runDiagList(ctx context.Context, env *cli.Env, args []string) error {
	o := diagOpts
	gw, err := gatewayArg(args, o.bind)
	if err != nil {
		return err
	}
	var page struct {
		Diagnostics []receiver.DiagnosticsEntry `json:"diagnostics"`
	}
	if err := o.call(ctx, "GET", "/v1/admin/diagnostics?gateway="+url.QueryEscape(gw), nil, &page); err != nil {
		return err
	}
	if len(page.Diagnostics) == 0 {
		fmt.Fprintf(env.Stdout, "gateway %s: no diagnostics requested yet (edgecentral diagnostics request %s)\n", gw, gw)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMAND\tREQUESTED\tANSWERED\tBUNDLE")
	for _, d := range page.Diagnostics {
		answered, bundle := "pending", ""
		if !d.Pending {
			answered = d.Finished.UTC().Format(time.RFC3339)
			bundle = fmt.Sprintf("%d bytes", d.Bytes)
			if !d.OK {
				bundle = "failed: " + d.Error
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", d.Command, d.Created.UTC().Format(time.RFC3339), answered, bundle)
	}
	return tw.Flush()
}

func runDiagGet(ctx context.Context, env *cli.Env, args []string) error {
	o := diagOpts
	gw, err := gatewayArg(args, o.bind)
	if err != nil {
		return err
	}
	which := "latest"
	if o.command != 0 {
		which = strconv.FormatUint(o.command, 10)
	}
	zip, err := o.raw(ctx, "GET", "/v1/admin/diagnostics/"+which+"?gateway="+url.QueryEscape(gw), nil)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = "diagnostics-" + gw + "-" + which + ".zip"
	}
	if err := os.WriteFile(out, zip, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes)\n", out, len(zip))
	return nil
}
