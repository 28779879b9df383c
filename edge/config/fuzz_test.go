package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/hostile"
)

// FuzzParse: no config bytes make Parse, Errorf, the options or
// CheckDrivers panic; every failure is a *config.Error whose problems all
// have a line, and whose text is at most 50 short printable lines. The
// seeds include every hostile shape (internal/hostile) at a small size: a
// duplicated device list, binary, an alias bomb, deep nesting, a wide
// mapping.
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
	for _, s := range hostile.Shapes() {
		f.Add(s.Make(min(s.Size, 32<<10)))
	}
	config.SetRecoverPanics(false)
	f.Cleanup(func() { config.SetRecoverPanics(true) })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("f.yaml", data)
		if err != nil {
			checkError(t, err)
			return
		}
		_ = cfg.Errorf("inputs[0].options.devices[3].id", "x")
		for i := range cfg.Inputs {
			var v map[string]any
			_ = cfg.InputOptions(i).Decode(&v)
			_ = cfg.InputOptions(i).Errorf("[2].x", "y")
		}
		if err := config.CheckDrivers(cfg); err != nil {
			checkError(t, err)
		}
	})
}

// checkError: a *config.Error, every problem with a line, printed as at
// most MaxListed+1 short lines with no control character and no invalid
// UTF-8 (no raw byte of the file).
func checkError(t *testing.T, err error) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Len() == 0 {
		t.Fatalf("got %T %v, want *config.Error", err, err)
	}
	if !errors.Is(err, edgeErrInvalidConfig) {
		t.Fatalf("%v is not edge.ErrInvalidConfig", err)
	}
	for _, p := range ce.Problems {
		if p.Line < 1 || p.File != "f.yaml" {
			t.Fatalf("problem without a line: %+v", p)
		}
	}
	text := err.Error()
	if !utf8.ValidString(text) {
		t.Fatalf("invalid UTF-8 in the message: %q", text)
	}
	lines := strings.Split(text, "\n")
	if len(lines) > config.MaxListed+1 {
		t.Fatalf("%d lines, want at most %d", len(lines), config.MaxListed+1)
	}
	for _, l := range lines {
		if len(l) > 600 {
			t.Fatalf("a line of %d bytes: %.100q", len(l), l)
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control character in %q", l)
		}
	}
}
