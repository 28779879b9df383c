package voice

import (
	"os"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestSampleConfig loads sample.yaml with the gateway's loader (strict,
// file:line errors), builds its outputs and compiles its rules.
func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sample.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.CompileRules(cfg); err != nil {
		t.Fatal(err)
	}
	var protos []Protocol
	for i, oc := range cfg.Outputs {
		f, err := edge.LookupOutput(oc.Driver)
		if err != nil {
			t.Fatal(err)
		}
		out, err := f(edge.Env{Name: oc.Name}, cfg.OutputOptions(i))
		if err != nil {
			t.Fatalf("output %q: %v", oc.Name, err)
		}
		o := out.(*Output)
		protos = append(protos, o.Protocol())
		if o.cfg.quiet == nil || o.cfg.rateN == 0 {
			t.Errorf("output %q: quiet hours or rate limit missing", oc.Name)
		}
	}
	if len(protos) != 2 || protos[0] != DY || protos[1] != SYN6288 {
		t.Errorf("got protocols %v", protos)
	}
}

// TestReadmeSamples: every config block of the README builds.
func TestReadmeSamples(t *testing.T) {
	if got := drivertest.ReadmeSamples(t); len(got) < 3 {
		t.Errorf("README builds %d outputs, want at least 3", len(got))
	}
}
