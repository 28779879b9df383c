package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/version"
	"github.com/edgegw/edgegw/sync/wire"
)

// release is a signed release on disk: keys, artifact and manifest.
type release struct {
	dir, pub, artifact, manifest string
	key                          wire.ReleasePrivateKey
	m                            wire.Manifest
}

// makeRelease signs an artifact for goos/goarch/goarm the way
// `edgecentral release sign` does (wire.SignRelease) with a key of
// wire.WriteReleaseKeys.
func makeRelease(t *testing.T, goos, goarch, goarm string) release {
	t.Helper()
	dir := t.TempDir()
	key, err := wire.WriteReleaseKeys(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	r := release{dir: dir, key: key, pub: filepath.Join(dir, "keys", wire.ReleasePubFile),
		artifact: filepath.Join(dir, "edgegw"), manifest: filepath.Join(dir, "edgegw.manifest")}
	if err := os.WriteFile(r.artifact, []byte(strings.Repeat("an edgegw binary\n", 1000)), 0o755); err != nil {
		t.Fatal(err)
	}
	b, m, err := wire.SignRelease(r.artifact, wire.Manifest{Version: "1.4.0", OS: goos, Arch: goarch, GOARM: goarm,
		StoreSchema: 2, MinStoreSchema: 1, Created: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}, key)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	if err := os.WriteFile(r.manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// write puts data into a new file of the release's directory.
func (r release) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Each way a release can be wrong has its exit code and says why.
func TestUpdateVerifyExitCodes(t *testing.T) {
	r := makeRelease(t, "linux", "arm", "7")
	artifact, _ := os.ReadFile(r.artifact)
	manifest, _ := os.ReadFile(r.manifest)
	_, other, _ := wire.GenerateReleaseKey()
	otherPub := r.write(t, "other.pub", []byte(other.String()+"\n"))
	both := r.write(t, "both.pub", []byte("# the district's keys\n"+other.String()+"\n\n"+r.key.Public().String()+"\n"))
	changed := append([]byte(nil), artifact...)
	changed[100] ^= 1
	// A signature by the trusted key over other bytes: the payload's
	// version changed after signing.
	env, _ := wire.ParseEnvelope(manifest)
	env.Payload = []byte(strings.Replace(string(env.Payload), `"1.4.0"`, `"1.4.1"`, 1))
	forged, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	platform := []string{"--os", "linux", "--arch", "arm", "--goarm", "7"}
	okLine := fmt.Sprintf("ok: edgegw 1.4.0 linux/arm/7, %d bytes, sha256 %s, signed by %s\n", len(artifact), r.m.SHA256, r.key.ID)

	for _, c := range []struct {
		name     string
		args     []string
		code     int
		want     string // in stderr, or stdout when the code is 0
		wantNot  string
		manifest string
	}{
		{name: "good", args: []string{r.manifest, r.artifact, "--pubkey", r.pub}, code: 0, want: okLine},
		{name: "flags first", args: []string{"--pubkey", both, r.manifest, r.artifact}, code: 0, want: okLine},
		{name: "bad signature", args: []string{r.write(t, "forged.manifest", forged), r.artifact, "--pubkey", r.pub}, code: 3,
			want: "bad release signature: no signature by a trusted key verifies"},
		{name: "unknown key", args: []string{r.manifest, r.artifact, "--pubkey", otherPub}, code: 4,
			want: fmt.Sprintf("unknown key: signed by %s, trusted: %s", r.key.ID, other.ID)},
		{name: "hash mismatch", args: []string{r.manifest, r.write(t, "changed", changed), "--pubkey", r.pub}, code: 5,
			want: "hash mismatch: artifact "},
		{name: "size mismatch", args: []string{r.manifest, r.write(t, "longer", append(artifact, '\n')), "--pubkey", r.pub}, code: 6,
			want: fmt.Sprintf("size mismatch: artifact %d bytes, manifest %d", len(artifact)+1, len(artifact))},
		{name: "truncated", args: []string{r.manifest, r.write(t, "short", artifact[:10]), "--pubkey", r.pub}, code: 6,
			want: "size mismatch"},
		{name: "wrong arch", args: []string{r.manifest, r.artifact, "--pubkey", r.pub, "--arch", "arm64"}, code: 7,
			want: "wrong platform: release for linux/arm/7, this is linux/arm64"},
		{name: "wrong goarm", args: []string{r.manifest, r.artifact, "--pubkey", r.pub, "--goarm", "6"}, code: 7,
			want: "wrong platform: release for linux/arm/7, this is linux/arm/6"},
		{name: "wrong os", args: []string{r.manifest, r.artifact, "--pubkey", r.pub, "--os", "windows"}, code: 7,
			want: "wrong platform"},
		{name: "malformed", args: []string{r.write(t, "half.manifest", manifest[:len(manifest)/2]), r.artifact, "--pubkey", r.pub}, code: 65,
			want: "malformed manifest"},
		{name: "too big", args: []string{r.write(t, "big.manifest", make([]byte, wire.MaxManifest+1)), r.artifact, "--pubkey", r.pub}, code: 65,
			want: fmt.Sprintf("malformed manifest: %s is over %d bytes", filepath.Join(r.dir, "big.manifest"), wire.MaxManifest)},
		{name: "no artifact", args: []string{r.manifest, filepath.Join(r.dir, "absent"), "--pubkey", r.pub}, code: 1,
			want: "absent"},
		{name: "no key file", args: []string{r.manifest, r.artifact, "--pubkey", filepath.Join(r.dir, "absent.pub")}, code: 1,
			want: "absent.pub"},
		{name: "private key as pubkey", args: []string{r.manifest, r.artifact, "--pubkey", filepath.Join(r.dir, "keys", wire.ReleaseKeyFile)}, code: 1,
			want: "a private key", wantNot: r.key.String()},
		{name: "one argument", args: []string{r.manifest, "--pubkey", r.pub}, code: 64, want: "takes MANIFEST and ARTIFACT"},
		{name: "no pubkey", args: []string{r.manifest, r.artifact}, code: 64, want: "--pubkey FILE is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"update", "verify"}, c.args...)
			if !strings.Contains(strings.Join(c.args, " "), "--os") {
				args = append(args, platform[:2]...)
			}
			if !strings.Contains(strings.Join(c.args, " "), "--arch") {
				args = append(args, platform[2:4]...)
			}
			if !strings.Contains(strings.Join(c.args, " "), "--goarm") {
				args = append(args, platform[4:]...)
			}
			code, out, errOut := runCLI(t, "", args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			got := errOut
			if c.code == 0 {
				got = out
				if out != c.want {
					t.Errorf("stdout %q, want %q", out, c.want)
				}
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("output %q does not say %q", got, c.want)
			}
			if c.wantNot != "" && strings.Contains(out+errOut, c.wantNot) {
				t.Errorf("output shows %q", c.wantNot)
			}
		})
	}
}

// Without --os/--arch/--goarm the platform is this binary's: a release for
// it verifies, one for another platform does not.
func TestUpdateVerifyDefaultPlatform(t *testing.T) {
	here := makeRelease(t, runtime.GOOS, runtime.GOARCH, version.GOARM())
	if code, out, errOut := runCLI(t, "", "update", "verify", here.manifest, here.artifact, "--pubkey", here.pub); code != 0 || !strings.HasPrefix(out, "ok: edgegw 1.4.0 "+here.m.Platform()+",") {
		t.Errorf("a release for this platform: exit %d\n%s%s", code, out, errOut)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	there := makeRelease(t, runtime.GOOS, other, "")
	if code, _, errOut := runCLI(t, "", "update", "verify", there.manifest, there.artifact, "--pubkey", there.pub); code != 7 || !strings.Contains(errOut, "wrong platform") {
		t.Errorf("a release for %s: exit %d, want 7\n%s", other, code, errOut)
	}
}

// version --json carries the store schemas this build writes and reads.
func TestVersionJSONStoreSchema(t *testing.T) {
	code, out, errOut := runCLI(t, "", "version", "--json")
	var v struct {
		Version     string `json:"version"`
		StoreSchema int    `json:"store_schema"`
		ReadsStore  int    `json:"reads_store"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version == "" || v.StoreSchema != store.SchemaVersion || v.ReadsStore != store.ReadsSchema {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
