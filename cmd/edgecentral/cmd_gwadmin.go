package main

import (
	"context"
	"fmt"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
)

func init() {
	app.Register(&cli.Command{
		Name:  "gateways move",
		Short: "change the place a gateway is registered under",
		Usage: `Moves gateway ID to another place: district / street / neighbourhood
committee / compound codes, as for gateways add (--place or the level flags).

Events stored from then on carry the new path, and their NATS subject follows
it; events already stored keep the path (and subject) they were stored under.
Every receiver of a cluster sees the move within a moment.

Examples:
  edgecentral gateways move gw-cp07 --place putuo/caoyang/c012/cp08
  edgecentral gateways move gw-cp07 --compound cp08 --committee c012 --street caoyang --district putuo
  edgecentral gateways move gw-cp07 --place putuo/caoyang/c012/cp08 --data /var/lib/edgecentral   (server stopped)

Exit code 0 when moved, 64 for a bad id or place, 1 when the gateway is
unknown or the server/data directory cannot be reached.`,
		Flags: newGatewaysFlags,
		Run:   runGatewaysMove,
	})
	app.Register(&cli.Command{
		Name:  "gateways rekey",
		Short: "give a gateway a new key and print it (the old key is refused at once)",
		Usage: `Replaces gateway ID's key with a new random 32-byte key and prints it once,
like gateways add. The old key is refused from then on (401 unauthorized) by
every receiver: use it when a gateway's key leaked or the box was stolen, then
put the new key in the gateway's config (uplink.key or key_file). The gateway
keeps its backlog while its key is wrong and sends it once it has the new one.

Examples:
  edgecentral gateways rekey gw-cp07
  edgecentral gateways rekey gw-cp07 --data /var/lib/edgecentral   (server stopped)`,
		Flags: newGatewaysFlags,
		Run:   runGatewaysRekey,
	})
	app.Register(&cli.Command{
		Name:  "gateways disable",
		Short: "refuse a gateway's requests (403) until it is enabled",
		Usage: `Disables gateway ID: every receiver answers its requests 403 forbidden
("gateway is disabled"). The gateway keeps its backlog and retries with
backoff, logging the refusal once in a while; gateways enable lets it in
again and the backlog arrives. gateways list shows the state.

Examples:
  edgecentral gateways disable gw-cp07
  edgecentral gateways enable gw-cp07`,
		Flags: newGatewaysFlags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return runGatewaysSetDisabled(ctx, env, args, true)
		},
	})
	app.Register(&cli.Command{
		Name:  "gateways enable",
		Short: "accept a disabled gateway's requests again",
		Usage: `Enables gateway ID again after gateways disable.

Examples:
  edgecentral gateways enable gw-cp07`,
		Flags: newGatewaysFlags,
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return runGatewaysSetDisabled(ctx, env, args, false)
		},
	})
}

// direct runs f on the store of --data or --nats and closes it; done is
// false when neither is given (ask the server).
func (o *gatewaysFlags) direct(ctx context.Context, f func(s receiver.Storage) error) (done bool, err error) {
	store, err := o.openDirect(ctx)
	if err != nil || store == nil {
		return false, err
	}
	err = f(store.Store)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	return true, err
}

func runGatewaysMove(ctx context.Context, env *cli.Env, args []string) error {
	o := gatewaysOpts
	id, err := gatewayArg(args, nil)
	if err != nil {
		return err
	}
	place, err := o.placePath()
	if err != nil {
		return err
	}
	if place == "" {
		return usageErr("give the new place: --place district/street/committee/compound or the level flags")
	}
	var st receiver.GatewayState
	done, err := o.direct(ctx, func(s receiver.Storage) error {
		g, err := receiver.MoveGateway(s, id, place)
		st = receiver.GatewayState{ID: g.ID, Place: g.Place, Disabled: g.Disabled}
		return err
	})
	if err != nil {
		return err
	}
	if !done {
		if err := o.call(ctx, "POST", "/v1/admin/gateways/"+id+"/move", receiver.MoveGatewayRequest{Place: place}, &st); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "gateway %s moved to %s: events stored from now on carry this path; those stored before keep theirs\n", id, st.Place)
	return nil
}

func runGatewaysRekey(ctx context.Context, env *cli.Env, args []string) error {
	o := gatewaysOpts
	id, err := gatewayArg(args, nil)
	if err != nil {
		return err
	}
	var key string
	done, err := o.direct(ctx, func(s receiver.Storage) error {
		k, err := receiver.RekeyGateway(s, id)
		key = k.String()
		return err
	})
	if err != nil {
		return err
	}
	if !done {
		var out receiver.AddGatewayResponse
		if err := o.call(ctx, "POST", "/v1/admin/gateways/"+id+"/rekey", nil, &out); err != nil {
			return err
		}
		key = out.Key.String()
	}
	fmt.Fprintf(env.Stdout, "gateway %s has a new key; the old one is refused from now on\nkey: %s\n\nIn the gateway's config (or put the key in a file and use key_file):\n  uplink:\n    key: %s\n", id, key, key)
	return nil
}

func runGatewaysSetDisabled(ctx context.Context, env *cli.Env, args []string, disabled bool) error {
	o := gatewaysOpts
	id, err := gatewayArg(args, nil)
	if err != nil {
		return err
	}
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	done, err := o.direct(ctx, func(s receiver.Storage) error {
		_, err := receiver.SetGatewayDisabled(s, id, disabled)
		return err
	})
	if err != nil {
		return err
	}
	if !done {
		if err := o.call(ctx, "POST", "/v1/admin/gateways/"+id+"/"+verb, nil, nil); err != nil {
			return err
		}
	}
	if disabled {
		fmt.Fprintf(env.Stdout, "gateway %s disabled: its requests are refused (403) until `edgecentral gateways enable %s`; it keeps its backlog\n", id, id)
	} else {
		fmt.Fprintf(env.Stdout, "gateway %s enabled\n", id)
	}
	return nil
}
