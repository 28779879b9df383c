package wire

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// keygen writes a pair that reads back, with the private key readable by
// its owner alone, and never overwrites a pair.
func TestWriteReleaseKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	priv, err := WriteReleaseKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadReleasePrivateKeyFile(filepath.Join(dir, ReleaseKeyFile))
	if err != nil || got.ID != priv.ID || !got.Key.Equal(priv.Key) {
		t.Fatalf("read private key: %v", err)
	}
	pubs, err := ReadReleasePublicKeys(filepath.Join(dir, ReleasePubFile))
	if err != nil || len(pubs) != 1 || pubs[0].ID != priv.ID || !pubs[0].Key.Equal(priv.Public().Key) {
		t.Fatalf("read public key: %v %v", pubs, err)
	}
	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{".": 0o700, ReleaseKeyFile: 0o600, ReleasePubFile: 0o644} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil || st.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v (%v)", name, st.Mode().Perm(), want, err)
			}
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, ReleaseKeyFile))
	if _, err := WriteReleaseKeys(dir); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second keygen: %v, want ErrKeyExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ReleaseKeyFile))
	if string(before) != string(after) {
		t.Fatal("the refused keygen changed the key")
	}
	// Only the public half left: still refused, nothing written.
	os.Remove(filepath.Join(dir, ReleaseKeyFile))
	if _, err := WriteReleaseKeys(dir); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("keygen over a public key: %v, want ErrKeyExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ReleaseKeyFile)); err == nil {
		t.Fatal("the refused keygen wrote a private key")
	}
}

func TestParseReleasePublicKeys(t *testing.T) {
	priv1, pub1, _ := GenerateReleaseKey()
	_, pub2, _ := GenerateReleaseKey()
	text := "# release keys of the district\n\n" + pub1.String() + "\n  " + pub2.String() + "  \n# old\n" + pub1.String() + "\n"
	keys, err := ParseReleasePublicKeys([]byte(text), "keys.pub")
	if err != nil || len(keys) != 2 || keys[0].ID != pub1.ID || keys[1].ID != pub2.ID {
		t.Fatalf("got %v, %v; want the two keys", keys, err)
	}
	for _, c := range []struct{ text, want string }{
		{"# nothing\n", "keys.pub: no release public key"},
		{pub1.String() + "\ned25519:abc:AAAA\n", "keys.pub:2: release public key"},
		{priv1.String() + "\n", "keys.pub:1: a private key"},
	} {
		if _, err := ParseReleasePublicKeys([]byte(c.text), "keys.pub"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.text, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "big.pub")
	os.WriteFile(path, []byte(strings.Repeat("#"+strings.Repeat("x", 99)+"\n", 1000)), 0o644)
	if _, err := ReadReleasePublicKeys(path); err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Errorf("a 100 KB key file: %v", err)
	}
	path = filepath.Join(t.TempDir(), "release.key")
	os.WriteFile(path, []byte(pub1.String()+"\n"), 0o600)
	if _, err := ReadReleasePrivateKeyFile(path); err == nil || !strings.Contains(err.Error(), "a public key") {
		t.Errorf("a public key as the signing key: %v", err)
	}
}

// SignRelease fills in the artifact's size and hash, and VerifyRelease
// names the one thing wrong with a pair.
func TestSignVerifyRelease(t *testing.T) {
	m, priv, path := testRelease(t, []byte("a release binary"))
	m.Size, m.SHA256, m.Serial = 0, "", 0
	b, signed, err := SignRelease(path, m, priv)
	if err != nil {
		t.Fatal(err)
	}
	if signed.Size != 16 || signed.Serial != m.Created.Unix() || signed.Format != ReleaseFormat {
		t.Errorf("signed manifest %+v", signed)
	}
	trusted := []ReleasePublicKey{priv.Public()}
	got, signer, err := VerifyRelease(b, path, trusted, "linux", "arm", "7")
	if err != nil || signer != priv.ID || got.SHA256 != signed.SHA256 || !got.Created.Equal(m.Created) {
		t.Fatalf("verify: %+v %q %v", got, signer, err)
	}
	_, other, _ := GenerateReleaseKey()
	longer := filepath.Join(t.TempDir(), "longer")
	os.WriteFile(longer, []byte("a release binary!"), 0o644)
	changed := filepath.Join(t.TempDir(), "changed")
	os.WriteFile(changed, []byte("a release binarY"), 0o644)
	for _, c := range []struct {
		name     string
		manifest []byte
		artifact string
		trusted  []ReleasePublicKey
		arch     string
		want     error
	}{
		{"unknown key", b, path, []ReleasePublicKey{other}, "arm", ErrUnknownKey},
		{"bad signature", []byte(strings.Replace(string(b), `"sig": "`, `"sig": "AAAA`, 1)), path, trusted, "arm", ErrReleaseSig},
		{"platform", b, path, trusted, "arm64", ErrPlatform},
		{"size", b, longer, trusted, "arm", ErrSize},
		{"hash", b, changed, trusted, "arm", ErrHash},
		{"malformed", b[:len(b)/2], path, trusted, "arm", ErrBadManifest},
	} {
		_, _, err := VerifyRelease(c.manifest, c.artifact, c.trusted, "linux", c.arch, "7")
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, _, err := SignRelease(filepath.Join(t.TempDir(), "absent"), m, priv); err == nil {
		t.Error("signed a missing artifact")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	for _, s := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != s {
			t.Fatalf("got %q, want %q", b, s)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left, want 1", len(ents))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "no", "such", "dir"), []byte("x"), 0o644); err == nil {
		t.Error("wrote into a missing directory")
	}
}

func TestReadManifestFileBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.manifest")
	os.WriteFile(path, make([]byte, MaxManifest+1), 0o644)
	if _, err := ReadManifestFile(path); !errors.Is(err, ErrBadManifest) {
		t.Errorf("a manifest over MaxManifest: %v, want ErrBadManifest", err)
	}
}
