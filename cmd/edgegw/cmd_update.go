package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"

	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/version"
	"github.com/edgegw/edgegw/sync/wire"
)

// The exit codes of `edgegw update verify`, one per way a release can be
// wrong (its Usage lists them).
const (
	exitVerifyIO        = cli.ExitFailure // a file cannot be read, or --pubkey holds no valid key
	exitVerifySig       = 3
	exitVerifyKey       = 4
	exitVerifyHash      = 5
	exitVerifySize      = 6
	exitVerifyPlatform  = 7
	exitVerifyMalformed = cli.ExitDataErr
)

// verifyExit maps each release error (sync/wire) to its exit code.
var verifyExit = []struct {
	err  error
	code int
}{
	{wire.ErrBadManifest, exitVerifyMalformed},
	{wire.ErrReleaseSig, exitVerifySig},
	{wire.ErrUnknownKey, exitVerifyKey},
	{wire.ErrHash, exitVerifyHash},
	{wire.ErrSize, exitVerifySize},
	{wire.ErrPlatform, exitVerifyPlatform},
}

func verifyExitCode(err error) int {
	for _, c := range verifyExit {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return exitVerifyIO
}

func init() {
	var pubkey, goos, goarch, goarm string
	app.Register(&cli.Command{
		Name:  "update verify",
		Short: "check a release manifest and its binary, offline",
		Usage: `Checks a release offline, as the gateway does before it runs an update:
the MANIFEST file (from edgecentral release sign) must be signed by a key
of --pubkey (a file of public keys, one ed25519:... line each, # comments),
name this platform, and give the ARTIFACT's exact size and sha256. The
platform is this binary's unless --os, --arch and --goarm say otherwise.

Example:
  edgegw update verify edgegw-linux-arm7.manifest edgegw-linux-arm7 --pubkey release.pub --os linux --arch arm --goarm 7

When the pair is good it prints one line:
  ok: edgegw 1.4.0 linux/arm/7, 15466496 bytes, sha256 ..., signed by 3f5c0e2a9b7d4c18

Exit status:
  0  the release is good
  1  a file cannot be read, or --pubkey holds no valid key
  3  bad signature: a trusted key's signature does not verify (tampered)
  4  unknown key: signed only by keys not in --pubkey
  5  hash mismatch: the artifact is not the one signed
  6  size mismatch: the artifact is truncated or longer
  7  wrong platform: the release is for another os/arch
  64 usage error
  65 malformed manifest`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&pubkey, "pubkey", "", "`file` of trusted release public keys (release.pub), one a line")
			fs.StringVar(&goos, "os", runtime.GOOS, "the platform's GOOS")
			fs.StringVar(&goarch, "arch", runtime.GOARCH, "the platform's GOARCH")
			fs.StringVar(&goarm, "goarm", version.GOARM(), "the platform's GOARM with --arch arm (default: this binary's, else 7)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			switch {
			case len(args) != 2:
				return i18n.Errorf(lang(), "%w: update verify takes MANIFEST and ARTIFACT, got %d arguments", cli.ErrUsage, len(args))
			case pubkey == "":
				return i18n.Errorf(lang(), "%w: --pubkey FILE is required", cli.ErrUsage)
			}
			arm := ""
			if goarch == "arm" {
				if arm = goarm; arm == "" {
					arm = "7"
				}
			}
			keys, err := wire.ReadReleasePublicKeys(pubkey)
			if err != nil {
				return &cli.ExitError{Code: exitVerifyIO, Err: err}
			}
			b, err := wire.ReadManifestFile(args[0])
			if err != nil {
				return &cli.ExitError{Code: verifyExitCode(err), Err: err}
			}
			m, signer, err := wire.VerifyRelease(b, args[1], keys, goos, goarch, arm)
			if err != nil {
				code := verifyExitCode(err)
				switch code {
				case exitVerifyHash, exitVerifySize:
					err = fmt.Errorf("%s: %w", args[1], err)
				case exitVerifyIO: // names its file
				default:
					err = fmt.Errorf("%s: %w", args[0], err)
				}
				return &cli.ExitError{Code: code, Err: err}
			}
			_, err = fmt.Fprintf(env.Stdout, "ok: edgegw %s %s, %d bytes, sha256 %s, signed by %s\n", m.Version, m.Platform(), m.Size, m.SHA256, signer)
			return err
		},
	})
}
