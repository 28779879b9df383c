package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
)

type gatewaysFlags struct {
	adminFlags
	data string
}

var gatewaysOpts *gatewaysFlags

func (o *gatewaysFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.data, "data", o.data, "open this data directory directly instead of asking the server at --url (the server must not be running)")
}

func newGatewaysFlags(fs *flag.FlagSet) {
	gatewaysOpts = &gatewaysFlags{adminFlags: *newAdminFlags()}
	gatewaysOpts.bind(fs)
}

func init() {
	app.Register(&cli.Command{
		Name:  "gateways add",
		Short: "create a gateway and print its key",
		Usage: `Creates gateway ID with a new random 32-byte key and prints the key (64 hex
digits) once. Put the id and the key in the gateway's config (uplink section);
the key is the gateway's only credential, so keep it secret.

ID is 1 to 64 of A-Z a-z 0-9 . _ -

Examples:
  edgecentral gateways add gw-compound-7 --data /var/lib/edgecentral   (server stopped)
  edgecentral gateways add gw-compound-7                              (server running on 127.0.0.1:8700)

Exit code 0 when created, 1 when the id exists or the server/data directory
cannot be reached.`,
		Flags: newGatewaysFlags,
		Run:   runGatewaysAdd,
	})
	app.Register(&cli.Command{
		Name:  "gateways list",
		Short: "list gateways with their last heartbeat, backlog and clock skew",
		Usage: `Lists every gateway: events stored, last batch, last heartbeat, the backlog
it reported, its clock skew, active config version.

Examples:
  edgecentral gateways list
  edgecentral gateways list --data /var/lib/edgecentral   (server stopped)`,
		Flags: newGatewaysFlags,
		Run:   runGatewaysList,
	})
}

func runGatewaysAdd(ctx context.Context, env *cli.Env, args []string) error {
	o := gatewaysOpts
	pos := args
	if len(pos) != 1 {
		return usageErr("want exactly one gateway ID, got %d arguments", len(pos))
	}
	id := pos[0]
	if !receiver.ValidGatewayID(id) {
		return usageErr("gateway ID %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	var key string
	if o.data != "" {
		store, err := receiver.OpenBadger(o.data, nil)
		if err != nil {
			return fmt.Errorf("%w (is edgecentral serve running on it? then leave out --data)", err)
		}
		k, err := receiver.AddGateway(store, id, time.Now())
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		key = k.String()
	} else {
		var out receiver.AddGatewayResponse
		if err := o.call(ctx, "POST", "/v1/admin/gateways", receiver.AddGatewayRequest{ID: id}, &out); err != nil {
			return err
		}
		key = out.Key.String()
	}
	fmt.Fprintf(env.Stdout, "gateway %s created\nkey: %s\n\nIn the gateway's config (or put the key in a file and use key_file):\n  gateway:\n    id: %s\n  uplink:\n    url: <this server's URL>\n    key: %s\n", id, key, id, key)
	return nil
}

func runGatewaysList(ctx context.Context, env *cli.Env, args []string) error {
	o := gatewaysOpts
	pos := args
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	var gws []receiver.GatewayStatus
	if o.data != "" {
		store, err := receiver.OpenBadger(o.data, nil)
		if err != nil {
			return fmt.Errorf("%w (is edgecentral serve running on it? then leave out --data)", err)
		}
		gws, err = store.Gateways()
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		var out struct{ Gateways []receiver.GatewayStatus }
		if err := o.call(ctx, "GET", "/v1/admin/gateways", nil, &out); err != nil {
			return err
		}
		gws = out.Gateways
	}
	if len(gws) == 0 {
		fmt.Fprintln(env.Stdout, "no gateways: add one with `edgecentral gateways add ID`")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENTS\tLAST BATCH\tLAST HEARTBEAT\tBACKLOG\tSKEW\tCONFIG")
	for _, g := range gws {
		backlog, skew := "-", "-"
		if hb := g.LastHeartbeat; hb != nil {
			backlog = fmt.Sprintf("%d ev / %d B", hb.BacklogEvents, hb.BacklogBytes)
		}
		if g.SkewKnown {
			skew = (time.Duration(g.ClockSkewMillis) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Events, ago(g.LastBatchAt), ago(g.HeartbeatAt), backlog, skew, orDash(g.ConfigVersion))
	}
	return tw.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
