package config

import (
	"encoding/base64"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Update configures self-update: the central platform may assign a signed
// release to this gateway, which downloads it, tries it and keeps it only
// if it proves healthy (internal/update; PROTOCOL.md §6a).
//
//	update:
//	  keys: ["ed25519:3f1c0a9e5b7d2468:MCowBQYDK2VwAyEA..."]   # a release key's public half
type Update struct {
	// Keys are the release public keys this gateway trusts, each
	// "ed25519:<keyid>:<base64>". Default: none, and without a key the
	// gateway never updates itself.
	Keys []string `yaml:"keys"`
	// Dir holds the downloaded versions, the pointers to the current,
	// previous, staged and broken ones, the trial state and the pending
	// reports. Default: "<store.dir>/update".
	Dir string `yaml:"dir"`
	// HealthTimeout is how long a new version has, after it starts, to
	// open its store, start its drivers and sync once with the central
	// platform. Default: 2m. Minimum: 1s.
	HealthTimeout Duration `yaml:"health_timeout"`
	// MaxAttempts is how many times a new version is started before it is
	// rolled back. Default: 3. Range: 1 to 10.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxSize is the largest release this gateway downloads. Default:
	// 256MiB. Range: 1MiB to 512MiB.
	MaxSize ByteSize `yaml:"max_size"`
	// Check follows the central platform's release offers. Default: on
	// when keys is not empty; false keeps the keys but never updates.
	Check *bool `yaml:"check"`

	storeDir string // store.dir, for Dir's default
}

// Update defaults and limits.
const (
	DefaultUpdateHealthTimeout = 2 * time.Minute
	DefaultUpdateMaxAttempts   = 3
	DefaultUpdateMaxSize       = ByteSize(256 << 20)
	MaxUpdateSize              = ByteSize(512 << 20)
)

// Enabled reports whether self-update is on: a key is trusted and check
// is not false.
func (u *Update) Enabled() bool { return len(u.Keys) > 0 && (u.Check == nil || *u.Check) }

// SetDefaults fills the update section's defaults.
func (u *Update) SetDefaults() {
	if u.Dir == "" && u.storeDir != "" {
		u.Dir = filepath.Join(u.storeDir, "update")
	}
	if u.HealthTimeout == 0 {
		u.HealthTimeout = Duration(DefaultUpdateHealthTimeout)
	}
	if u.MaxAttempts == 0 {
		u.MaxAttempts = DefaultUpdateMaxAttempts
	}
	if u.MaxSize == 0 {
		u.MaxSize = DefaultUpdateMaxSize
	}
}

// Validate checks the update section (after SetDefaults). The keys' ids
// are checked against their keys where they are used (internal/update),
// which reports the same file:line.
func (u *Update) Validate() []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldErrorf("update."+field, format, args...))
	}
	for i, k := range u.Keys {
		parts := strings.Split(strings.TrimSpace(k), ":")
		if len(parts) != 3 || parts[0] != "ed25519" {
			add(keyField(i), "want \"ed25519:<keyid>:<base64>\": the public half of a release key")
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(parts[2]); err != nil || len(b) != 32 {
			add(keyField(i), "the key is not base64 of 32 bytes")
		}
	}
	if u.Check != nil && *u.Check && len(u.Keys) == 0 {
		add("check", "check needs at least one release key in keys")
	}
	if u.HealthTimeout < 0 || (u.HealthTimeout > 0 && u.HealthTimeout.D() < time.Second) {
		add("health_timeout", "health_timeout must be at least 1s")
	}
	if u.MaxAttempts < 0 || u.MaxAttempts > 10 {
		add("max_attempts", "max_attempts must be between 1 and 10")
	}
	if u.MaxSize < 0 || (u.MaxSize > 0 && (u.MaxSize < 1<<20 || u.MaxSize > MaxUpdateSize)) {
		add("max_size", "max_size must be between 1MiB and 512MiB")
	}
	return errs
}

func keyField(i int) string { return "keys[" + strconv.Itoa(i) + "]" }
