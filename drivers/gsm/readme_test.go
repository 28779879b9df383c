package gsm

import (
	"os"
	"regexp"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

// TestReadmeSampleValidates parses the README's sample under a whole
// gateway config with the gateway's loader and builds the output from it.
func TestReadmeSampleValidates(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(outputs:.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no outputs: yaml block")
	}
	cfg, err := config.Parse("README.md", append([]byte("gateway: {id: t}\n"), m[1]...))
	if err != nil {
		t.Fatalf("README sample: %v", err)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatalf("README sample: %v", err)
	}
	if len(cfg.Outputs) != 1 {
		t.Fatalf("got %d outputs, want 1", len(cfg.Outputs))
	}
	f, err := edge.LookupOutput(cfg.Outputs[0].Driver)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f(edge.Env{Name: cfg.Outputs[0].Name}, cfg.OutputOptions(0))
	if err != nil {
		t.Fatalf("README sample: %v", err)
	}
	o := out.(*Output)
	if len(o.opts.To) != 2 || o.opts.Baud != 115200 || o.opts.SendTimeout.D().Seconds() != 60 || *o.opts.Retries != 2 {
		t.Fatalf("decoded %+v", o.opts)
	}
}
