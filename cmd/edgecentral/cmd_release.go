package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type rolloutFlags struct {
	adminFlags
	gateway, place       string
	all, allowDowngrade  bool
	canary               int
	halt, resume, reason string
}

var (
	releaseAdmin *adminFlags
	rolloutOpts  *rolloutFlags
)

func bindReleaseAdmin(fs *flag.FlagSet) {
	releaseAdmin = newAdminFlags()
	releaseAdmin.bind(fs)
}

func init() {
	app.Register(&cli.Command{
		Name:  "release push",
		Short: "store a signed release (artifact and manifest) on the central",
		Usage: `Uploads ARTIFACT (an edgegw binary) and MANIFEST (its signed manifest, as
'edgecentral release sign' writes it) to the running server, streaming the
artifact. The server checks that the manifest is a well-formed signed
manifest and that the artifact's size and sha256 are the manifest's; the
gateways check the signature with their own trusted keys. A release is
stored once per artifact: pushing the same one again replaces its manifest,
another artifact for a version and platform already stored is refused.

Prints the version, platform, sha256 and size.

Example:
  edgecentral release push edgegw-linux-arm7 edgegw-linux-arm7.manifest

Exit code 0 when stored, 64 for a manifest that does not parse, 1 when the
server refuses the release or cannot be reached.`,
		Flags: bindReleaseAdmin,
		Run:   runReleasePush,
	})
	app.Register(&cli.Command{
		Name:  "release rollout",
		Short: "assign a release's version to a gateway or a place; halt, resume or widen a rollout",
		Usage: `Starts a rollout of VERSION (pushed before with release push) to one gateway
(--gateway ID), to the gateways under a place (--place, a prefix of
district/street/committee/compound codes) or to all (--all). With
--canary PCT only that percentage of them get it: a gateway is in when a
hash of the rollout id and its id, mod 100, is below PCT, so widening the
canary keeps the gateways already in. Prints the rollout id.

At their next heartbeat the covered gateways are offered the release of
VERSION for their platform (none when it was not pushed for it), unless
they run it already or list it as broken. When gateways are covered by
several rollouts, the newest one that is not halted wins.

A gateway that reports an update rolled back or failed halts the rollout:
no gateway is offered it any more until it is resumed.

  --halt ID            halt a rollout (--reason TEXT says why)
  --resume ID          resume a halted rollout
  --canary PCT ID      change the canary of a rollout (widen it)

Examples:
  edgecentral release rollout 1.5.0 --gateway gw-cp07
  edgecentral release rollout 1.5.0 --place putuo/caoyang --canary 10
  edgecentral release rollout --canary 50 r-1765000000
  edgecentral release rollout --halt r-1765000000 --reason "watchdog resets"
  edgecentral release rollout --resume r-1765000000

Exit code 0 when done, 64 for bad arguments, 1 when the server refuses
(unknown version, gateway or rollout) or cannot be reached.`,
		Flags: func(fs *flag.FlagSet) {
			rolloutOpts = &rolloutFlags{adminFlags: *newAdminFlags()}
			o := rolloutOpts
			o.adminFlags.bind(fs)
			fs.StringVar(&o.gateway, "gateway", "", "roll out to this gateway")
			fs.StringVar(&o.place, "place", "", "roll out to the gateways under this place (district/street/committee/compound prefix)")
			fs.BoolVar(&o.all, "all", false, "roll out to every gateway")
			fs.IntVar(&o.canary, "canary", 0, "percentage of the covered gateways (1-100; a new rollout: 100); with a rollout ID: change its canary")
			fs.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "let gateways that run a newer version install this one")
			fs.StringVar(&o.halt, "halt", "", "halt rollout `ID`")
			fs.StringVar(&o.resume, "resume", "", "resume halted rollout `ID`")
			fs.StringVar(&o.reason, "reason", "", "with --halt: why (shown by release status)")
		},
		Run: runReleaseRollout,
	})
	app.Register(&cli.Command{
		Name:  "release list",
		Short: "list the releases stored on the central",
		Usage: `Lists the releases pushed: version, platform, size, the start of the
artifact's sha256, and when it was pushed.

Example:
  edgecentral release list`,
		Flags: bindReleaseAdmin,
		Run:   runReleaseList,
	})
	app.Register(&cli.Command{
		Name:  "release status",
		Short: "show the rollouts and, per gateway, its version, update state and last report",
		Usage: `Shows every rollout (newest first), or rollout ROLLOUT: its version, scope,
canary and state (active, or halted and why), and each gateway it covers:
the version it runs, its update state, its target, what the rollout does for
it (offered, running, broken, no release for its platform, superseded by a
newer rollout) and the outcome and reason of its last report.

Examples:
  edgecentral release status
  edgecentral release status r-1765000000`,
		Flags: bindReleaseAdmin,
		Run:   runReleaseStatus,
	})
}

func runReleasePush(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) != 2 {
		return usageErr("want ARTIFACT and MANIFEST, got %d arguments", len(args))
	}
	manifest, err := wire.ReadManifestFile(args[1])
	if errors.Is(err, wire.ErrBadManifest) {
		return usageErr("manifest %s: %v (the arguments are ARTIFACT MANIFEST)", args[1], err)
	}
	if err != nil {
		return err
	}
	m, err := wire.ManifestUnverified(manifest)
	if err != nil {
		return usageErr("manifest %s: %v", args[1], err)
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Size() != m.Size {
		return fmt.Errorf("artifact %s: %w: %d bytes, the manifest says %d", args[0], wire.ErrSize, st.Size(), m.Size)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			w, err := mw.CreateFormFile("manifest", "manifest")
			if err != nil {
				return err
			}
			if _, err := w.Write(manifest); err != nil {
				return err
			}
			if w, err = mw.CreateFormFile("artifact", "artifact"); err != nil {
				return err
			}
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	b, err := releaseAdmin.stream(ctx, "POST", "/v1/admin/releases", mw.FormDataContentType(), pr)
	pr.Close()
	if err != nil {
		return err
	}
	var rel receiver.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return fmt.Errorf("release push: decode answer: %w", err)
	}
	fmt.Fprintf(env.Stdout, "release %s for %s pushed\nsha256: %s\nsize: %d bytes\n", rel.Version, rel.Platform, rel.SHA256, rel.Size)
	return nil
}

// stream sends body as it is read (no timeout but ctx's) and returns
// the body of a 200 answer.
func (a *adminFlags) stream(ctx context.Context, method, path, contentType string, body io.Reader) ([]byte, error) {
	return a.send(ctx, http.DefaultClient, method, path, contentType, body, 1<<20)
}

func runReleaseRollout(ctx context.Context, env *cli.Env, args []string) error {
	o := rolloutOpts
	scopes := 0
	for _, set := range []bool{o.gateway != "", o.place != "", o.all} {
		if set {
			scopes++
		}
	}
	var ro receiver.Rollout
	var did string
	switch {
	case o.halt != "" || o.resume != "":
		if len(args) > 0 || scopes > 0 || o.canary != 0 || (o.halt != "" && o.resume != "") {
			return usageErr("--halt ID and --resume ID take no other argument")
		}
		if o.halt != "" {
			if err := o.call(ctx, "POST", "/v1/admin/rollouts/"+url.PathEscape(o.halt)+"/halt", receiver.HaltRequest{Reason: o.reason}, &ro); err != nil {
				return err
			}
			did = "halted"
		} else {
			if err := o.call(ctx, "POST", "/v1/admin/rollouts/"+url.PathEscape(o.resume)+"/resume", struct{}{}, &ro); err != nil {
				return err
			}
			did = "resumed"
		}
	case scopes == 0 && o.canary != 0:
		if len(args) != 1 {
			return usageErr("--canary PCT ID: want one rollout ID, got %d arguments", len(args))
		}
		if o.canary < 1 || o.canary > 100 {
			return usageErr("--canary %d: want a percentage from 1 to 100", o.canary)
		}
		if !strings.HasPrefix(args[0], "r-") {
			return usageErr("%q is not a rollout id (r-...): to start a rollout of a version give --gateway ID, --place PATH or --all", args[0])
		}
		if err := o.call(ctx, "POST", "/v1/admin/rollouts/"+url.PathEscape(args[0])+"/canary", receiver.CanaryRequest{Canary: o.canary}, &ro); err != nil {
			return err
		}
		did = "changed"
	default:
		if len(args) != 1 {
			return usageErr("want one VERSION, got %d arguments", len(args))
		}
		if scopes != 1 {
			return usageErr("give one of --gateway ID, --place PATH and --all")
		}
		if o.canary < 0 || o.canary > 100 {
			return usageErr("--canary %d: want a percentage from 1 to 100", o.canary)
		}
		if o.place != "" {
			if _, err := receiver.ParsePlace(o.place); err != nil {
				return usageErr("--place: %v", err)
			}
		}
		req := receiver.RolloutRequest{Version: args[0], Gateway: o.gateway, Place: o.place, All: o.all,
			Canary: o.canary, AllowDowngrade: o.allowDowngrade}
		if err := o.call(ctx, "POST", "/v1/admin/rollouts", req, &ro); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "rollout %s started: %s to %s, canary %d%%\n", ro.ID, ro.Version, ro.ScopeText(), ro.Canary)
		return nil
	}
	fmt.Fprintf(env.Stdout, "rollout %s %s: %s to %s, canary %d%%, %s\n", ro.ID, did, ro.Version, ro.ScopeText(), ro.Canary, stateText(ro))
	return nil
}

func stateText(ro receiver.Rollout) string {
	if ro.Reason != "" {
		return ro.State + " (" + ro.Reason + ")"
	}
	return ro.State
}

func runReleaseList(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q", args[0])
	}
	var out struct{ Releases []receiver.Release }
	if err := releaseAdmin.call(ctx, "GET", "/v1/admin/releases", nil, &out); err != nil {
		return err
	}
	if len(out.Releases) == 0 {
		fmt.Fprintln(env.Stdout, "no releases: push one with `edgecentral release push ARTIFACT MANIFEST`")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tPLATFORM\tSIZE\tSHA256\tPUSHED")
	for _, r := range out.Releases {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Version, r.Platform, r.Size, r.SHA256[:min(12, len(r.SHA256))], r.Pushed.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return tw.Flush()
}

func runReleaseStatus(ctx context.Context, env *cli.Env, args []string) error {
	var list []receiver.RolloutStatus
	switch len(args) {
	case 0:
		var out struct{ Rollouts []receiver.RolloutStatus }
		if err := releaseAdmin.call(ctx, "GET", "/v1/admin/rollouts", nil, &out); err != nil {
			return err
		}
		list = out.Rollouts
	case 1:
		var st receiver.RolloutStatus
		if err := releaseAdmin.call(ctx, "GET", "/v1/admin/rollouts/"+url.PathEscape(args[0]), nil, &st); err != nil {
			return err
		}
		list = append(list, st)
	default:
		return usageErr("want at most one ROLLOUT, got %d arguments", len(args))
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "no rollouts: start one with `edgecentral release rollout VERSION --gateway ID`")
		return nil
	}
	for i, st := range list {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "rollout %s: %s to %s, canary %d%%, %s\n", st.ID, st.Version, st.ScopeText(), st.Canary, stateText(st.Rollout))
		for _, p := range st.Missing {
			fmt.Fprintf(env.Stdout, "  no release for %s: push one, or its gateways are not updated\n", orUnknownPlatform(p))
		}
		if len(st.Gateways) == 0 {
			fmt.Fprintln(env.Stdout, "  no gateway covered")
			continue
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  GATEWAY\tPLATFORM\tRUNNING\tUPDATE\tTARGET\tROLLOUT\tLAST REPORT")
		for _, g := range st.Gateways {
			report := "-"
			if g.Outcome != "" {
				report = g.Outcome
				if g.Reason != "" {
					report += ": " + oneLine(g.Reason, 100)
				}
			}
			state := orDash(g.State)
			if g.Error != "" {
				state += " (" + oneLine(g.Error, 60) + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, orDash(g.Platform), orDash(g.Running), state, orDash(g.Target), orDash(g.Note), report)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func orUnknownPlatform(p string) string {
	if p == "" {
		return "an unknown platform"
	}
	return p
}

// oneLine is s on one line, at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
