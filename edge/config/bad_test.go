package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/edgegw/edgegw/drivers/modbus"
	_ "github.com/edgegw/edgegw/drivers/serial"
	_ "github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge/config"
)

// loadAndCheck is what `edgegw validate` does with a file.
func loadAndCheck(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	return config.CheckDrivers(cfg)
}

// TestBadConfigs: every file in testdata/bad starts with
// "# want: LINE: substring"; loading it must fail with a *config.Error
// that has a problem at file:LINE whose text contains substring.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("got %d bad configs, want at least 15", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			spec, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line %q: want \"# want: LINE: substring\"", first)
			}
			ls, want, _ := strings.Cut(spec, ": ")
			line, err := strconv.Atoi(ls)
			if err != nil {
				t.Fatalf("bad want line %q", ls)
			}
			err = loadAndCheck(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T %v, want *config.Error", err, err)
			}
			prefix := f + ":" + strconv.Itoa(line) + ":"
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, want) {
					t.Logf("%s", err)
					return
				}
			}
			t.Errorf("got\n%v\nwant a line starting %q containing %q", err, prefix, want)
		})
	}
}
