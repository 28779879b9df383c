package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/wire"
)

// releaseClock stamps a manifest's Created (tests set a fake one).
var releaseClock edge.Clock = edge.SystemClock{}

type releaseFlags struct {
	out, key, version, goos, goarch, goarm string
	serial                                 int64
	storeSchema, minStoreSchema, cfgSchema int
}

var releaseOpts *releaseFlags

func newKeygenFlags(fs *flag.FlagSet) {
	releaseOpts = &releaseFlags{}
	fs.StringVar(&releaseOpts.out, "out", "", "`directory` to write release.key and release.pub into (created 0700 when missing)")
}

func newSignFlags(fs *flag.FlagSet) {
	o := &releaseFlags{storeSchema: store.SchemaVersion, minStoreSchema: store.MinSchema}
	releaseOpts = o
	fs.StringVar(&o.key, "key", "", "the private release key `file` (release.key of release keygen)")
	fs.StringVar(&o.version, "version", "", "the release's `version` (1.4.0: letters, digits, . - + _)")
	fs.StringVar(&o.goos, "os", "", "the artifact's GOOS (linux, windows)")
	fs.StringVar(&o.goarch, "arch", "", "the artifact's GOARCH (arm, arm64, amd64)")
	fs.StringVar(&o.goarm, "goarm", "", "the artifact's GOARM with --arch arm (5, 6 or 7; default 7)")
	fs.StringVar(&o.out, "out", "", "manifest `file` to write (replaced atomically)")
	fs.Int64Var(&o.serial, "serial", 0, "the release's serial, which orders releases (default: the unix seconds of now)")
	fs.IntVar(&o.storeSchema, "store-schema", o.storeSchema, "the store schema the release writes")
	fs.IntVar(&o.minStoreSchema, "min-store-schema", o.minStoreSchema, "the oldest store schema the release opens")
	fs.IntVar(&o.cfgSchema, "config-schema", config.Schema, "the oldest config schema the release reads (a gateway whose config is older refuses it)")
}

func init() {
	app.Register(&cli.Command{
		Name:  "release keygen",
		Short: "make a release signing key pair",
		Usage: `Makes a new ed25519 release key pair and writes it into --out:
release.key (mode 0600, the private key: keep it offline, on the machine
that signs releases) and release.pub (0644, the public key). It prints the
key id and the line to add to the gateways' config, under update.keys.

It never overwrites a key: when --out already holds release.key or
release.pub it changes nothing and fails.

Example:
  edgecentral release keygen --out /srv/release-keys

Exit code 0 when written, 64 for bad arguments, 1 when a key exists there
or the files cannot be written.`,
		Flags: newKeygenFlags,
		Run:   runReleaseKeygen,
	})
	app.Register(&cli.Command{
		Name:  "release sign",
		Short: "sign a gateway binary: write its release manifest",
		Usage: `Signs ARTIFACT, an edgegw binary for one platform: it reads the file's
size and sha256 and writes the manifest gateways verify before they run
it (format ` + wire.ReleaseFormat + `, sync/PROTOCOL.md §6a), signed with
the private key of release keygen. The manifest is written atomically.

--store-schema and --min-store-schema default to the schemas of this
build's gateway store; give them when the release's differ. --serial
orders releases (a gateway refuses one below its floor) and defaults to
the time of signing in unix seconds.

Example:
  edgecentral release sign dist/edgegw-linux-arm7 --key /srv/release-keys/release.key \
    --version 1.4.0 --os linux --arch arm --goarm 7 --out dist/edgegw-linux-arm7.manifest

Check the pair as a gateway would with
  edgegw update verify MANIFEST ARTIFACT --pubkey release.pub --os linux --arch arm --goarm 7

Exit code 0 when written, 64 for bad arguments or fields, 1 when a file
cannot be read or written.`,
		Flags: newSignFlags,
		Run:   runReleaseSign,
	})
}

func runReleaseKeygen(ctx context.Context, env *cli.Env, args []string) error {
	o := releaseOpts
	if len(args) > 0 {
		return usageErr("release keygen takes no arguments, got %q", args[0])
	}
	if o.out == "" {
		return usageErr("--out DIR is required")
	}
	priv, err := wire.WriteReleaseKeys(o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s (private: keep it offline) and %s\nkey id: %s\n\nadd to the gateways' config, under update.keys:\n  - %s\n",
		filepath.Join(o.out, wire.ReleaseKeyFile), filepath.Join(o.out, wire.ReleasePubFile), priv.ID, priv.Public())
	return nil
}

func runReleaseSign(ctx context.Context, env *cli.Env, args []string) error {
	o := releaseOpts
	switch {
	case len(args) != 1:
		return usageErr("release sign takes one ARTIFACT, got %d arguments", len(args))
	case o.key == "":
		return usageErr("--key FILE is required (release.key of release keygen)")
	case o.out == "":
		return usageErr("--out MANIFEST is required")
	case o.serial < 0:
		return usageErr("--serial %d: want 0 (the time of signing) or more", o.serial)
	case o.goarm != "" && o.goarch != "arm":
		return usageErr("--goarm is for --arch arm only")
	}
	goarm := o.goarm
	if o.goarch == "arm" {
		if goarm == "" {
			goarm = "7"
		}
		if goarm != "5" && goarm != "6" && goarm != "7" {
			return usageErr("--goarm %q: want 5, 6 or 7", goarm)
		}
	}
	key, err := wire.ReadReleasePrivateKeyFile(o.key)
	if err != nil {
		return err
	}
	m := wire.Manifest{
		Version: o.version, OS: o.goos, Arch: o.goarch, GOARM: goarm,
		StoreSchema: o.storeSchema, MinStoreSchema: o.minStoreSchema, ConfigSchema: o.cfgSchema,
		Serial: o.serial, Created: releaseClock.Now().UTC().Truncate(time.Second),
	}
	b, m, err := wire.SignRelease(args[0], m, key)
	if errors.Is(err, wire.ErrBadManifest) {
		return usageErr("%v", err)
	}
	if err != nil {
		return err
	}
	if err := wire.WriteFileAtomic(o.out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "signed edgegw %s %s, %d bytes, sha256 %s, serial %d, key %s: %s\n",
		m.Version, m.Platform(), m.Size, m.SHA256, m.Serial, key.ID, o.out)
	return nil
}
