package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgegw/edgegw/internal/central"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
)

type gatewaysFlags struct {
	adminFlags
	data, nats, place                   string
	district, street, committee, compnd string
}

var gatewaysOpts *gatewaysFlags

func (o *gatewaysFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.data, "data", o.data, "open this data directory directly instead of asking the server at --url (the server must not be running)")
	fs.StringVar(&o.nats, "nats", o.nats, "talk to this NATS JetStream cluster directly (URLs, comma-separated) instead of asking the server at --url")
	fs.StringVar(&o.place, "place", o.place, "gateways add/move: where the gateway is: district/street/committee/compound codes (putuo/caoyang/c012/cp07)")
	fs.StringVar(&o.district, "district", o.district, "gateways add/move: district code (instead of --place)")
	fs.StringVar(&o.street, "street", o.street, "gateways add/move: street code")
	fs.StringVar(&o.committee, "committee", o.committee, "gateways add/move: neighbourhood committee code")
	fs.StringVar(&o.compnd, "compound", o.compnd, "gateways add/move: compound code")
}

// placePath is --place, or the path of the level flags.
func (o *gatewaysFlags) placePath() (string, error) {
	levels := []string{o.district, o.street, o.committee, o.compnd}
	given := strings.Join(levels, "") != ""
	if o.place != "" && given {
		return "", usageErr("give --place or the level flags (--district ...), not both")
	}
	p := o.place
	if given {
		for i := range levels {
			if levels[i] == "" {
				levels[i] = receiver.Unplaced
			}
		}
		p = strings.Join(levels, "/")
	}
	if _, err := receiver.ParsePlace(p); err != nil {
		return "", usageErr("%v", err)
	}
	return p, nil
}

// openDirect opens the store of --data or --nats (the server stopped, or a
// cluster); nil when neither is given.
func (o *gatewaysFlags) openDirect(ctx context.Context) (*central.Backend, error) {
	if o.data == "" && o.nats == "" {
		return nil, nil
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := central.OpenStore(octx, central.Options{Data: o.data, NATS: splitList(o.nats)})
	if err != nil {
		return nil, fmt.Errorf("%w (is edgecentral serve running on it? then leave out --data)", err)
	}
	return b, nil
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
  edgecentral gateways add gw-cp07 --place putuo/caoyang/c012/cp07
  edgecentral gateways add gw-cp07 --district putuo --street caoyang --committee c012 --compound cp07

--place is where the gateway is: district / street / neighbourhood committee /
compound, as codes of 1 to 32 of a-z 0-9 - (pinyin slugs or division codes;
"_" for a level not given). Every event the gateway sends is stored under
that path, and its NATS subject follows it (docs/central.md).

Exit code 0 when created, 1 when the id exists or the server/data directory
cannot be reached.`,
		Flags: newGatewaysFlags,
		Run:   runGatewaysAdd,
	})
	app.Register(&cli.Command{
		Name:  "gateways list",
		Short: "list gateways with their last heartbeat, backlog and clock skew",
		Usage: `Lists every gateway: events stored, last batch, last heartbeat, the backlog
it reported, its clock skew, active config version, its place and its state
(enabled, or disabled by gateways disable), and from its last heartbeat the
edgegw version it runs, the one before it and the versions it refuses as
broken (RUNNING, PREVIOUS, BROKEN; "-" for a gateway that does not report
them).

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
	place, err := o.placePath()
	if err != nil {
		return err
	}
	var key string
	store, err := o.openDirect(ctx)
	if err != nil {
		return err
	}
	if store != nil {
		k, err := receiver.AddPlacedGateway(store.Store, id, place, receiver.SystemClock().Now())
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		key = k.String()
	} else {
		var out receiver.AddGatewayResponse
		if err := o.call(ctx, "POST", "/v1/admin/gateways", receiver.AddGatewayRequest{ID: id, Place: place}, &out); err != nil {
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
	store, err := o.openDirect(ctx)
	if err != nil {
		return err
	}
	if store != nil {
		gws, err = store.Store.Gateways()
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
	fmt.Fprintln(tw, "ID\tEVENTS\tLAST BATCH\tLAST HEARTBEAT\tBACKLOG\tSKEW\tCONFIG PUSHED\tAPPLIED\tPLACE\tSTATE\tRUNNING\tPREVIOUS\tBROKEN\tREFUSED")
	for _, g := range gws {
		backlog, skew, applied, refused := "-", "-", "-", ""
		running, previous, broken := "-", "-", "-"
		if hb := g.LastHeartbeat; hb != nil && hb.Update != nil {
			running, previous = orDash(hb.Update.Running), orDash(hb.Update.Previous)
			if len(hb.Update.Broken) > 0 {
				broken = oneLine(strings.Join(hb.Update.Broken, ","), 60)
			}
		}
		if hb := g.LastHeartbeat; hb != nil {
			backlog = fmt.Sprintf("%d ev / %d B", hb.BacklogEvents, hb.BacklogBytes)
			applied = orDash(hb.ConfigVersion)
			refused = hb.ConfigError
			if len(refused) > 120 {
				refused = refused[:120] + "…"
			}
		}
		if g.SkewKnown {
			skew = (time.Duration(g.ClockSkewMillis) * time.Millisecond).String()
		}
		state := "enabled"
		if g.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Events, ago(g.LastBatchAt), ago(g.HeartbeatAt), backlog, skew,
			orDash(g.ConfigVersion), applied, orDash(g.Place), state, running, previous, broken, refused)
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
