package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type configFlags struct {
	adminFlags
	gateway, version string
}

var configOpts *configFlags

func (o *configFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.gateway, "gateway", o.gateway, "the gateway the config is for (required)")
	fs.StringVar(&o.version, "version", o.version, "version label of this config (default: the last numeric version + 1)")
}

// argsFlag collects repeated --arg key=value.
type argsFlag struct{ m map[string]string }

func (a *argsFlag) String() string {
	if a == nil || a.m == nil {
		return ""
	}
	keys := make([]string, 0, len(a.m))
	for k := range a.m {
		keys = append(keys, k+"="+a.m[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (a *argsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("--arg %q: want key=value", s)
	}
	a.m[k] = v
	return nil
}

type commandFlags struct {
	adminFlags
	gateway, typ string
	args         *argsFlag
}

var commandOpts *commandFlags

func (o *commandFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.gateway, "gateway", o.gateway, "the gateway to send the command to (required)")
	fs.StringVar(&o.typ, "type", o.typ, "command type: "+strings.Join(receiver.CommandTypes, ", ")+" (required)")
	fs.Var(o.args, "arg", "a command argument key=value; repeat for more")
}

func init() {
	app.Register(&cli.Command{
		Name:  "config push",
		Short: "queue a config file for a gateway",
		Usage: `Stores FILE as the gateway's config bundle. The gateway fetches it at its next
poll (or at once after a command of type apply_config), validates it in full
and applies it; an invalid config is refused and the gateway keeps running its
old one and reports the error in its heartbeat (see edgecentral gateways list).

Example:
  edgecentral config push --gateway gw-compound-7 compound-7.yaml
  edgecentral command --gateway gw-compound-7 --type apply_config     (fetch now)`,
		Flags: func(fs *flag.FlagSet) {
			configOpts = &configFlags{adminFlags: *newAdminFlags()}
			configOpts.bind(fs)
		},
		Run: runConfigPush,
	})
	app.Register(&cli.Command{
		Name:  "command",
		Short: "queue a command for a gateway (pulse an output, play a voice track, ack an alert...)",
		Usage: `Queues a command; the gateway fetches it at its next poll, runs it and
reports the result (GET /v1/admin/commands?gateway=ID shows results).

Types and their arguments:
  play_voice        output=NAME track=N
  pulse_output      output=NAME duration=5s
  set_output        output=NAME value=on|off|NUMBER|TEXT
  ack_alert         id=ALERT-ID [by=NAME]
  send_diagnostics  (none: the result carries the diagnostics zip)
  apply_config      (none: fetch the pushed config now)
  announce          device=NAME for=2h [by=NAME] [note=TEXT]  (for=0s withdraws)

Examples:
  edgecentral command --gateway gw-compound-7 --type pulse_output --arg output=siren --arg duration=5s
  edgecentral command --gateway gw-compound-7 --type ack_alert --arg id=door-open/door-3-2-101/40 --arg by=duty-officer
  edgecentral command --gateway gw-compound-7 --type announce --arg device=door-3-2-101 --arg for=2h --arg by=carer`,
		Flags: func(fs *flag.FlagSet) {
			commandOpts = &commandFlags{adminFlags: *newAdminFlags(), args: &argsFlag{m: map[string]string{}}}
			commandOpts.bind(fs)
		},
		Run: runCommand,
	})
}

func runConfigPush(ctx context.Context, env *cli.Env, args []string) error {
	o := configOpts
	pos := args
	if len(pos) != 1 {
		return usageErr("want exactly one config FILE, got %d arguments", len(pos))
	}
	if o.gateway == "" {
		return usageErr("--gateway is required")
	}
	yaml, err := edge.ReadFileLimit(pos[0], config.MaxFileSize)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var b wire.ConfigBundle
	if err := o.call(ctx, "POST", "/v1/admin/config", receiver.PutConfigRequest{Gateway: o.gateway, YAML: string(yaml), Version: o.version}, &b); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "config version %s (etag %s) queued for gateway %s\n", b.Version, b.ETag, o.gateway)
	return nil
}

func runCommand(ctx context.Context, env *cli.Env, args []string) error {
	o := commandOpts
	pos := args
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (arguments go in --arg key=value)", pos[0])
	}
	if o.gateway == "" || o.typ == "" {
		return usageErr("--gateway and --type are required")
	}
	var c wire.Command
	if err := o.call(ctx, "POST", "/v1/admin/commands", receiver.AddCommandRequest{Gateway: o.gateway, Type: o.typ, Args: o.args.m}, &c); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "command %d (%s %s) queued for gateway %s\n", c.ID, c.Type, o.args.String(), o.gateway)
	return nil
}
