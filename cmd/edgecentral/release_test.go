package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/sync/wire"
)

// keygen writes a pair and prints its id and the line for the gateways'
// config; a second keygen into the same directory changes nothing and fails.
func TestReleaseKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out, errOut, code := run(t, t.Context(), "release", "keygen", "--out", dir)
	if code != 0 {
		t.Fatalf("keygen: exit %d\n%s", code, errOut)
	}
	pub, err := wire.ReadReleasePublicKeys(filepath.Join(dir, wire.ReleasePubFile))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := wire.ReadReleasePrivateKeyFile(filepath.Join(dir, wire.ReleaseKeyFile))
	if err != nil || priv.ID != pub[0].ID {
		t.Fatalf("private key: %v (id %s, public %s)", err, priv.ID, pub[0].ID)
	}
	if !strings.Contains(out, "key id: "+pub[0].ID+"\n") || !strings.Contains(out, "  - "+pub[0].String()+"\n") {
		t.Errorf("keygen printed\n%s\nwant the key id %s and the line %s", out, pub[0].ID, pub[0])
	}
	if strings.Contains(out, priv.String()) {
		t.Error("keygen printed the private key")
	}
	before, _ := os.ReadFile(filepath.Join(dir, wire.ReleaseKeyFile))
	_, errOut, code = run(t, t.Context(), "release", "keygen", "--out", dir)
	if code != 1 || !strings.Contains(errOut, "release key exists: "+filepath.Join(dir, wire.ReleaseKeyFile)) {
		t.Errorf("keygen over a key: exit %d, want 1\n%s", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, wire.ReleaseKeyFile)); string(after) != string(before) {
		t.Error("the refused keygen changed the key")
	}
	if _, errOut, code := run(t, t.Context(), "release", "keygen"); code != 64 || !strings.Contains(errOut, "--out DIR is required") {
		t.Errorf("keygen without --out: exit %d\n%s", code, errOut)
	}
}

// sign → verify: the manifest release sign writes verifies against the
// public key keygen wrote, for the artifact signed, with the fields given
// and the defaults (GOARM 7, the store's schemas, the serial from the
// clock).
func TestReleaseSignVerify(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 30, 15, 0, time.UTC)
	setReleaseClock(t, fakeclock.New(now.Add(123*time.Millisecond)))
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, errOut, code := run(t, t.Context(), "release", "keygen", "--out", keys); code != 0 {
		t.Fatal(errOut)
	}
	trusted, err := wire.ReadReleasePublicKeys(filepath.Join(keys, wire.ReleasePubFile))
	if err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "edgegw-linux-arm7")
	os.WriteFile(artifact, []byte(strings.Repeat("edgegw for a Pi\n", 4096)), 0o755)
	manifest := filepath.Join(dir, "edgegw-linux-arm7.manifest")
	out, errOut, code := run(t, t.Context(), "release", "sign", artifact, "--key", filepath.Join(keys, wire.ReleaseKeyFile),
		"--version", "1.4.0", "--os", "linux", "--arch", "arm", "--out", manifest)
	if code != 0 {
		t.Fatalf("sign: exit %d\n%s", code, errOut)
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	m, signer, err := wire.VerifyRelease(b, artifact, trusted, "linux", "arm", "7")
	if err != nil || signer != trusted[0].ID {
		t.Fatalf("verify what sign wrote: %v (signer %q)", err, signer)
	}
	want := wire.Manifest{Format: wire.ReleaseFormat, Product: wire.ReleaseProduct, Version: "1.4.0", OS: "linux", Arch: "arm", GOARM: "7",
		Size: 16 * 4096, SHA256: m.SHA256, StoreSchema: store.SchemaVersion, MinStoreSchema: store.MinSchema, ConfigSchema: config.Schema,
		Serial: now.Unix(), Created: now}
	if !m.Created.Equal(want.Created) {
		t.Errorf("created %v, want %v", m.Created, want.Created)
	}
	m.Created = want.Created
	if m != want {
		t.Errorf("manifest\n%+v\nwant\n%+v", m, want)
	}
	if wantOut := fmt.Sprintf("signed edgegw 1.4.0 linux/arm/7, %d bytes, sha256 %s, serial %d, key %s: %s\n", want.Size, m.SHA256, now.Unix(), signer, manifest); out != wantOut {
		t.Errorf("sign printed %q, want %q", out, wantOut)
	}
	// The artifact changed after signing: the manifest no longer matches.
	os.WriteFile(artifact, []byte(strings.Repeat("edgegw for a PI\n", 4096)), 0o755)
	if _, _, err := wire.VerifyRelease(b, artifact, trusted, "linux", "arm", "7"); !errors.Is(err, wire.ErrHash) {
		t.Errorf("a changed artifact: %v, want a hash mismatch", err)
	}

	// Every field given; the manifest is replaced, and no temporary file
	// is left next to it.
	_, errOut, code = run(t, t.Context(), "release", "sign", "--key", filepath.Join(keys, wire.ReleaseKeyFile), "--version", "1.5.0-rc.1",
		"--os", "linux", "--arch", "amd64", "--serial", "42", "--store-schema", "3", "--min-store-schema", "2", "--config-schema", "4",
		"--out", manifest, artifact)
	if code != 0 {
		t.Fatalf("sign with every field: exit %d\n%s", code, errOut)
	}
	b, _ = os.ReadFile(manifest)
	m, _, err = wire.VerifyRelease(b, artifact, trusted, "linux", "amd64", "")
	if err != nil || m.Serial != 42 || m.StoreSchema != 3 || m.MinStoreSchema != 2 || m.ConfigSchema != 4 || m.GOARM != "" || m.Version != "1.5.0-rc.1" {
		t.Errorf("manifest %+v, %v", m, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("%d entries in the directory, want keys, artifact and manifest", len(ents))
	}
}

// Bad flags are usage errors (64) that name the problem; files that
// cannot be read fail with 1. Nothing is written.
func TestReleaseSignErrors(t *testing.T) {
	setReleaseClock(t, fakeclock.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)))
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, errOut, code := run(t, t.Context(), "release", "keygen", "--out", keys); code != 0 {
		t.Fatal(errOut)
	}
	key := filepath.Join(keys, wire.ReleaseKeyFile)
	artifact := filepath.Join(dir, "edgegw")
	os.WriteFile(artifact, []byte("binary"), 0o755)
	out := filepath.Join(dir, "m")
	base := []string{"--key", key, "--version", "1.4.0", "--os", "linux", "--arch", "arm64", "--out", out}
	with := func(extra ...string) []string {
		return append(append([]string{"release", "sign", artifact}, base...), extra...)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no artifact", []string{"release", "sign", "--key", key, "--version", "1", "--os", "linux", "--arch", "arm64", "--out", out}, 64, "takes one ARTIFACT"},
		{"no key", []string{"release", "sign", artifact, "--version", "1", "--os", "linux", "--arch", "arm64", "--out", out}, 64, "--key FILE is required"},
		{"no out", []string{"release", "sign", artifact, "--key", key, "--version", "1", "--os", "linux", "--arch", "arm64"}, 64, "--out MANIFEST is required"},
		{"bad version", with("--version", "1.4 beta"), 64, `version "1.4 beta"`},
		{"no os", with("--os", ""), 64, "os and arch are required"},
		{"goarm off arm", with("--goarm", "7"), 64, "--goarm is for --arch arm only"},
		{"bad goarm", with("--arch", "arm", "--goarm", "8"), 64, `--goarm "8": want 5, 6 or 7`},
		{"schemas", with("--store-schema", "2", "--min-store-schema", "3"), 64, "store schema 2, min 3"},
		{"negative serial", with("--serial", "-1"), 64, "--serial -1"},
		{"public key to sign", with("--key", filepath.Join(keys, wire.ReleasePubFile)), 1, "a public key"},
		{"absent artifact", append([]string{"release", "sign", filepath.Join(dir, "absent")}, base...), 1, "absent"},
		{"fields before the file", append(append([]string{"release", "sign", filepath.Join(dir, "absent")}, base...), "--version", "x y"), 64, `version "x y"`},
		{"empty artifact", append([]string{"release", "sign", keys + "/../empty"}, base...), 1, "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
			_, errOut, code := run(t, t.Context(), c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", code, c.code, c.want, errOut)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a manifest was written")
			}
		})
	}
	// The help of the group lists both commands.
	help, _, code := run(t, t.Context(), "release", "--help")
	if code != 0 || !regexp.MustCompile(`(?m)^  keygen\s`).MatchString(help) || !regexp.MustCompile(`(?m)^  sign\s`).MatchString(help) {
		t.Errorf("release --help: exit %d\n%s", code, help)
	}
}

func setReleaseClock(t *testing.T, c edge.Clock) {
	old := releaseClock
	releaseClock = c
	t.Cleanup(func() { releaseClock = old })
}
