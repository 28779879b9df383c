package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRelease(t *testing.T, artifact []byte) (Manifest, ReleasePrivateKey, string) {
	t.Helper()
	priv, _, err := GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(artifact)
	m := Manifest{Version: "1.4.0", OS: "linux", Arch: "arm", GOARM: "7", Size: int64(len(artifact)),
		SHA256: hex.EncodeToString(sum[:]), StoreSchema: 2, MinStoreSchema: 2, Serial: 7,
		Created: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "edgegw")
	if err := os.WriteFile(path, artifact, 0o644); err != nil {
		t.Fatal(err)
	}
	return m, priv, path
}

func TestReleaseKeysRoundTrip(t *testing.T) {
	priv, pub, err := GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ParseReleasePrivateKey(priv.String() + "\n")
	if err != nil || !p2.Key.Equal(priv.Key) || p2.ID != priv.ID {
		t.Fatalf("private round trip: %v", err)
	}
	q2, err := ParseReleasePublicKey(pub.String())
	if err != nil || !q2.Key.Equal(pub.Key) || q2.ID != pub.ID {
		t.Fatalf("public round trip: %v", err)
	}
	_, other, _ := GenerateReleaseKey()
	swapped := "ed25519:" + other.ID + pub.String()[len("ed25519:")+len(pub.ID):]
	if _, err := ParseReleasePublicKey(swapped); err == nil {
		t.Fatal("a key id that does not match the key was accepted")
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:abc", "ed25519:abc:!!", "rsa:abc:AAAA", priv.String()} {
		if _, err := ParseReleasePublicKey(bad); err == nil {
			t.Errorf("ParseReleasePublicKey(%q) accepted", bad)
		}
	}
}

func TestVerifyManifest(t *testing.T) {
	m, priv, path := testRelease(t, []byte("a release binary"))
	env, err := SignManifest(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := GenerateReleaseKey()
	trusted := []ReleasePublicKey{priv.Public()}

	tamper := func(f func(e *Envelope)) []byte {
		var e Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	both, err := SignManifest(m, other, priv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []byte
		trusted []ReleasePublicKey
		want    error
	}{
		{"good", env, trusted, nil},
		{"other key and the trusted one", both, trusted, nil},
		{"unknown key", env, []ReleasePublicKey{other.Public()}, ErrUnknownKey},
		{"no trusted keys", env, nil, ErrUnknownKey},
		{"payload changed", tamper(func(e *Envelope) { e.Payload = []byte(strings.Replace(string(e.Payload), "1.4.0", "1.4.1", 1)) }), trusted, ErrReleaseSig},
		{"signature changed", tamper(func(e *Envelope) { e.Signatures[0].Sig[3] ^= 1 }), trusted, ErrReleaseSig},
		{"signature short", tamper(func(e *Envelope) { e.Signatures[0].Sig = e.Signatures[0].Sig[:10] }), trusted, ErrReleaseSig},
		{"no signatures", tamper(func(e *Envelope) { e.Signatures = nil }), trusted, ErrBadManifest},
		{"not json", []byte("{"), trusted, ErrBadManifest},
		{"trailing data", append(append([]byte{}, env...), []byte("{}")...), trusted, ErrBadManifest},
		{"too large", []byte(strings.Repeat(" ", MaxManifest+1)), trusted, ErrBadManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyManifest(tt.env, tt.trusted)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil && (got.Version != "1.4.0" || got.SHA256 != m.SHA256 || got.Format != ReleaseFormat) {
				t.Fatalf("got %+v", got)
			}
		})
	}

	// The signature covers the domain prefix: a bare payload signature fails.
	if err := m.VerifyArtifact(path); err != nil {
		t.Fatalf("artifact: %v", err)
	}
	if err := os.WriteFile(path, []byte("a release binarY"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyArtifact(path); !errors.Is(err, ErrHash) {
		t.Fatalf("changed artifact: got %v, want %v", err, ErrHash)
	}
	if err := os.WriteFile(path, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyArtifact(path); !errors.Is(err, ErrSize) {
		t.Fatalf("short artifact: got %v, want %v", err, ErrSize)
	}
	for _, p := range []struct{ os, arch, arm string }{{"linux", "arm", "6"}, {"linux", "arm64", ""}, {"windows", "arm", "7"}} {
		if err := m.CheckPlatform(p.os, p.arch, p.arm); !errors.Is(err, ErrPlatform) {
			t.Errorf("platform %v: got %v, want %v", p, err, ErrPlatform)
		}
	}
	if err := m.CheckPlatform("linux", "arm", "7"); err != nil {
		t.Errorf("own platform: %v", err)
	}
}

func TestSignManifestRefusesBadFields(t *testing.T) {
	m, priv, _ := testRelease(t, []byte("x"))
	for name, f := range map[string]func(*Manifest){
		"version":      func(m *Manifest) { m.Version = "1.0 beta" },
		"size":         func(m *Manifest) { m.Size = 0 },
		"sha":          func(m *Manifest) { m.SHA256 = strings.ToUpper(m.SHA256) },
		"store schema": func(m *Manifest) { m.MinStoreSchema = 3 },
		"os":           func(m *Manifest) { m.OS = "" },
	} {
		bad := m
		f(&bad)
		if _, err := SignManifest(bad, priv); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: got %v, want %v", name, err, ErrBadManifest)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		h       string
		size    int64
		off, n  int64
		wantErr bool
	}{
		{"bytes=0-99", 1000, 0, 100, false},
		{"bytes=900-1999", 1000, 900, 100, false},
		{"bytes=0-1048575", 2 << 20, 0, 1 << 20, false},
		{"bytes=0-1048576", 2 << 20, 0, 0, true},
		{"bytes=1000-1001", 1000, 0, 0, true},
		{"bytes=5-4", 1000, 0, 0, true},
		{"bytes=-5", 1000, 0, 0, true},
		{"bytes=5-", 1000, 0, 0, true},
		{"bytes=0-1,5-6", 1000, 0, 0, true},
		{"items=0-1", 1000, 0, 0, true},
		{"", 1000, 0, 0, true},
	}
	for _, tt := range tests {
		off, n, err := ParseRange(tt.h, tt.size)
		if (err != nil) != tt.wantErr || off != tt.off || n != tt.n {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %v; want %d, %d, err %v", tt.h, tt.size, off, n, err, tt.off, tt.n, tt.wantErr)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-99", int64(1000))
	f.Add("bytes=9223372036854775807-9223372036854775807", int64(5))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		off, n, err := ParseRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n <= 0 || n > MaxArtifactChunk || off+n > size {
			t.Fatalf("ParseRange(%q, %d) = %d, %d", h, size, off, n)
		}
	})
}

func FuzzVerifyManifest(f *testing.F) {
	priv, pub, _ := GenerateReleaseKey()
	m := Manifest{Version: "1.0.0", OS: "linux", Arch: "amd64", Size: 1, SHA256: strings.Repeat("a", 64), StoreSchema: 2, MinStoreSchema: 2}
	env, err := SignManifest(m, priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add([]byte(`{"payload":"e30=","signatures":[{"keyid":"00","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := VerifyManifest(b, []ReleasePublicKey{pub})
		if err == nil && got.Check() != nil {
			t.Fatalf("verified a manifest that does not check: %+v", got)
		}
		_, _ = ManifestUnverified(b)
	})
}

// BenchmarkVerifyArtifact measures checking a 32 MiB artifact (about a
// gateway binary): throughput in MB/s, and memory that does not grow with
// the artifact (a streamed hash).
func BenchmarkVerifyArtifact(b *testing.B) {
	const size = 32 << 20
	path := filepath.Join(b.TempDir(), "edgegw")
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := Manifest{Size: size, SHA256: hex.EncodeToString(sum[:])}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.VerifyArtifact(path); err != nil {
			b.Fatal(err)
		}
	}
}
