package config_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/config"
)

func TestUpdateDefaults(t *testing.T) {
	cfg, err := config.Parse("x.yaml", []byte("gateway:\n  id: gw1\nstore:\n  dir: /data/gw\n"))
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Update
	if u.Enabled() || u.Dir != filepath.Join("/data/gw", "update") || u.HealthTimeout.D() != 2*time.Minute || u.MaxAttempts != 3 || u.MaxSize != 256<<20 {
		t.Errorf("defaults: got %+v", u)
	}
}

func TestUpdateProblems(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"update:\n  keys: [\"rsa:1:abc\"]\n", `x.yaml:4:10: update.keys[0]: want "ed25519:<keyid>:<base64>"`},
		{"update:\n  keys:\n    - \"ed25519:00:AAAA\"\n", `x.yaml:5:7: update.keys[0]: the key is not base64 of 32 bytes`},
		{"update:\n  health_timeout: 10ms\n", `x.yaml:4:3: update.health_timeout: health_timeout must be at least 1s`},
		{"update:\n  max_attempts: 11\n", `x.yaml:4:3: update.max_attempts: max_attempts must be between 1 and 10`},
		{"update:\n  max_size: 1GiB\n", `x.yaml:4:3: update.max_size: max_size must be between 1MiB and 512MiB`},
		{"update:\n  check: true\n", `x.yaml:4:3: update.check: check needs at least one release key in keys`},
		{"update:\n  bogus: 1\n", `x.yaml:4:3: update.bogus`},
	} {
		_, err := config.Parse("x.yaml", []byte("gateway:\n  id: gw1\n"+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestUpdateCheckOff(t *testing.T) {
	key := "ed25519:0011223344556677:" + strings.Repeat("A", 43) + "="
	cfg, err := config.Parse("x.yaml", []byte("gateway:\n  id: gw1\nupdate:\n  keys: [\""+key+"\"]\n  check: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Update.Enabled() {
		t.Error("check: false left self-update on")
	}
	cfg, err = config.Parse("x.yaml", []byte("gateway:\n  id: gw1\nupdate:\n  keys: [\""+key+"\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Update.Enabled() {
		t.Error("keys alone did not turn self-update on")
	}
}
