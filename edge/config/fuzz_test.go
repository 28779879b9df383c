package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
)

// FuzzParse: no config bytes make Parse, Errorf, the options or
// CheckDrivers panic, and every failure is a *config.Error whose problems
// all have a line.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(config.Example())
	f.Add(config.DemoYAML())
	f.Add([]byte("gateway: {id: a}\ninputs: [{name: x, driver: sim, options: {<<: {rate: 1}, seed: 2}}]\n"))
	f.Add([]byte("gateway: &g {id: a}\nstatus: *g\n"))
	f.Add([]byte("gateway: !!map {id: a}\nstore: {cap: !!str 1GiB}\n"))
	config.SetRecoverPanics(false)
	f.Cleanup(func() { config.SetRecoverPanics(true) })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("f.yaml", data)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("got %T %v, want *config.Error", err, err)
			}
			for _, p := range ce.Problems {
				if p.Line < 1 || p.File != "f.yaml" {
					t.Fatalf("problem without a line: %+v", p)
				}
				if strings.Contains(p.Msg, "\n") && !strings.Contains(p.Msg, "cannot parse") {
					// goccy's source excerpts must not leak into messages
					if strings.Contains(p.Msg, "^") {
						t.Fatalf("multi-line message: %q", p.Msg)
					}
				}
			}
			return
		}
		_ = cfg.Errorf("inputs[0].options.devices[3].id", "x")
		for i := range cfg.Inputs {
			var v map[string]any
			_ = cfg.InputOptions(i).Decode(&v)
			_ = cfg.InputOptions(i).Errorf("[2].x", "y")
		}
		_ = config.CheckDrivers(cfg)
	})
}
