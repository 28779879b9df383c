package update

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name      string
		p         Pointers
		t         Trial
		ok        bool
		installed string
		want      Step
	}{
		{"fresh install", Pointers{}, Trial{}, false, "1.0.0", StepInProcess},
		{"committed", Pointers{Current: "1"}, Trial{}, false, "1.0.0", StepRunCurrent},
		{"rolled back to the installed binary", Pointers{Broken: "2"}, Trial{}, false, "1.0.0", StepInProcess},
		{"staged, no trial yet", Pointers{Current: "1", New: "2"}, Trial{}, false, "1.0.0", StepTrial},
		{"staged, attempts 0", Pointers{New: "2"}, Trial{Version: "2"}, true, "1.0.0", StepTrial},
		{"staged, attempt 2 of 3 failed", Pointers{New: "2"}, Trial{Version: "2", Attempts: 2}, true, "1.0.0", StepTrial},
		{"staged, attempts used up", Pointers{New: "2"}, Trial{Version: "2", Attempts: 3}, true, "1.0.0", StepRollback},
		{"trial of another version", Pointers{New: "3"}, Trial{Version: "2", Attempts: 3}, true, "1.0.0", StepTrial},
		{"rollback cut short", Pointers{Current: "1", New: "2", Broken: "2"}, Trial{}, false, "1.0.0", StepRollback},
		{"package upgrade over a self-update", Pointers{Current: "1.5.0"}, Trial{}, false, "1.6.0", StepAdoptInstalled},
		{"package older than the self-update", Pointers{Current: "1.5.0"}, Trial{}, false, "1.4.0", StepRunCurrent},
		{"dev build installed", Pointers{Current: "1.5.0"}, Trial{}, false, "dev", StepRunCurrent},
		{"staged beats a newer package", Pointers{Current: "1.5.0", New: "1.7.0"}, Trial{}, false, "1.6.0", StepTrial},
		{"commit cut short", Pointers{Current: "2", Previous: "1", New: "2"}, Trial{Version: "2", Attempts: 1}, true, "1.0.0", StepFinishCommit},
	} {
		if got := Plan(c.p, c.t, c.ok, 3, c.installed); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAfterExit(t *testing.T) {
	for _, c := range []struct {
		code    int
		restart bool
		exit    int
	}{
		{ExitRestart, true, 0},
		{78, false, 78},
		{1, false, 1},
		{0, false, 1},
		{-1, false, 1}, // killed by a signal
	} {
		if r, e := AfterExit(c.code); r != c.restart || e != c.exit {
			t.Errorf("AfterExit(%d): got %v, %d, want %v, %d", c.code, r, e, c.restart, c.exit)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.4.0", "1.5.0", -1, true},
		{"1.10.0", "1.9.3", 1, true},
		{"v2.0", "2.0.0", 0, true},
		{"1.5.0-rc1", "1.5.0", 0, true},
		{"dev", "1.0.0", 0, false},
	} {
		got, ok := CompareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("CompareVersions(%q, %q): got %d, %v, want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}

func TestRing(t *testing.T) {
	r := NewRing(8)
	r.Write([]byte("abc"))
	r.Write([]byte("defgh"))
	r.Write([]byte("ij"))
	if got := r.String(); got != "cdefghij" {
		t.Errorf("got %q, want %q", got, "cdefghij")
	}
	r.Write([]byte("0123456789"))
	if got := r.String(); got != "23456789" {
		t.Errorf("got %q, want %q", got, "23456789")
	}
}

// release signs a manifest for an artifact of the given bytes.
func release(t *testing.T, key wire.ReleasePrivateKey, art []byte, edit func(*wire.Manifest)) (*wire.ReleaseOffer, wire.Manifest) {
	t.Helper()
	sum := sha256.Sum256(art)
	m := wire.Manifest{Version: "2.0.0", OS: "linux", Arch: "arm", GOARM: "7", Size: int64(len(art)),
		SHA256: hex.EncodeToString(sum[:]), StoreSchema: 2, MinStoreSchema: 1, Serial: 20, Created: time.Unix(1765000000, 0).UTC()}
	if edit != nil {
		edit(&m)
	}
	env, err := wire.SignManifest(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.ReleaseOffer{Rollout: "r-1", Version: m.Version, Manifest: env, SHA256: m.SHA256, Size: m.Size}, m
}

func TestEvaluate(t *testing.T) {
	key, pub, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := wire.GenerateReleaseKey()
	art := []byte("the new gateway binary")
	base := Env{Keys: []wire.ReleasePublicKey{pub}, GOOS: "linux", GOARCH: "arm", GOARM: "7", MaxSize: 1 << 20,
		Running: "1.4.0", StoreSchema: 2, ReadsStore: 2, ConfigSchema: 1}
	for _, c := range []struct {
		name  string
		edit  func(*wire.Manifest)
		offer func(*wire.ReleaseOffer)
		env   func(*Env)
		key   *wire.ReleasePrivateKey
		want  string // "" accepted
	}{
		{name: "good"},
		{name: "unknown key", key: &other, want: "signature: unknown key"},
		{name: "no keys", env: func(e *Env) { e.Keys = nil }, want: "no release key"},
		{name: "offer names another sha", offer: func(o *wire.ReleaseOffer) { o.SHA256 = strings.Repeat("0", 64) }, want: "does not match its manifest"},
		{name: "offer names another version", offer: func(o *wire.ReleaseOffer) { o.Version = "9.9.9" }, want: "does not match its manifest"},
		{name: "wrong goarm", edit: func(m *wire.Manifest) { m.GOARM = "6" }, want: "platform: wrong platform"},
		{name: "wrong os", env: func(e *Env) { e.GOOS = "windows" }, want: "platform"},
		{name: "over the size limit", env: func(e *Env) { e.MaxSize = 4 }, want: "size limit"},
		{name: "broken before", env: func(e *Env) { e.Broken = "2.0.0" }, want: "was rolled back"},
		{name: "downgrade by version", env: func(e *Env) { e.Running = "2.1.0" }, want: "downgrade"},
		{name: "downgrade allowed", env: func(e *Env) { e.Running = "2.1.0" }, offer: func(o *wire.ReleaseOffer) { o.AllowDowngrade = true }},
		{name: "downgrade by serial", env: func(e *Env) { e.RunningSerial = 30; e.Running = "dev" }, want: "downgrade"},
		{name: "dev build, no serial", env: func(e *Env) { e.Running = "dev" }},
		{name: "store too new for it", env: func(e *Env) { e.StoreSchema = 3; e.ReadsStore = 3 }, want: "the store is at 3"},
		{name: "store too old for it", edit: func(m *wire.Manifest) { m.MinStoreSchema = 2 }, env: func(e *Env) { e.StoreSchema = 1 }, want: "the store is at 1"},
		{name: "no way back after a rollback", edit: func(m *wire.Manifest) { m.StoreSchema = 3 }, want: "cannot read after a rollback"},
		{name: "config too old for it", edit: func(m *wire.Manifest) { m.ConfigSchema = 2 }, want: "config schema"},
		{name: "config schema stated, same", edit: func(m *wire.Manifest) { m.ConfigSchema = 1 }},
		{name: "schemas unknown", edit: func(m *wire.Manifest) { m.StoreSchema = 3 }, env: func(e *Env) { e.StoreSchema, e.ReadsStore = 0, 0 }},
	} {
		k := key
		if c.key != nil {
			k = *c.key
		}
		o, _ := release(t, k, art, c.edit)
		if c.offer != nil {
			c.offer(o)
		}
		e := base
		if c.env != nil {
			c.env(&e)
		}
		m, err := Evaluate(o, e)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: got %v, want accepted", c.name, err)
		case c.want == "" && m.Version != o.Version:
			t.Errorf("%s: manifest version %q, want %q", c.name, m.Version, o.Version)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrRefused)):
			t.Errorf("%s: got %v, want a refusal containing %q", c.name, err, c.want)
		}
	}
}
