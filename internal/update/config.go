package update

import (
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/wire"
)

// Keys parses update.keys; an error names the key's file:line.
func Keys(cfg *config.Config) ([]wire.ReleasePublicKey, error) {
	var keys []wire.ReleasePublicKey
	var errs []error
	for i, s := range cfg.Update.Keys {
		k, err := wire.ParseReleasePublicKey(s)
		if err != nil {
			errs = append(errs, cfg.Errorf("update.keys["+strconv.Itoa(i)+"]", "%v", err))
			continue
		}
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, config.Join(errs...)
	}
	return keys, nil
}

// CheckConfig is the update section's part of `edgegw validate`.
func CheckConfig(cfg *config.Config) error {
	_, err := Keys(cfg)
	return err
}

// NewLoader builds the loader of `edgegw service run` from the config.
// args are the child's arguments; stopTimeout the drain a child gets.
func NewLoader(cfg *config.Config, args []string, version string, stopTimeout time.Duration, stderr io.Writer, log *slog.Logger) *Loader {
	return &Loader{
		Dir:           Dir(cfg.Update.Dir),
		Args:          args,
		Version:       version,
		HealthTimeout: cfg.Update.HealthTimeout.D(),
		MaxAttempts:   cfg.Update.MaxAttempts,
		StopTimeout:   stopTimeout,
		Stderr:        stderr,
		Logger:        log,
	}
}
