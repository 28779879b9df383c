package gpio

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/goccy/go-yaml"
)

// TestReadmeSampleValidates strict-decodes every input and output of the
// README's sample blocks and builds the driver or output from them.
func TestReadmeSampleValidates(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		block := m[1]
		if !strings.HasPrefix(block, "inputs:") && !strings.HasPrefix(block, "outputs:") {
			continue
		}
		var doc struct {
			Inputs  []config.Input  `yaml:"inputs"`
			Outputs []config.Output `yaml:"outputs"`
		}
		if err := yaml.UnmarshalWithOptions([]byte(block), &doc, yaml.Strict()); err != nil {
			t.Fatalf("README block does not parse: %v\n%s", err, block)
		}
		for _, in := range doc.Inputs {
			f, err := edge.LookupDriver(in.Driver)
			if err != nil {
				t.Fatal(err)
			}
			d, err := f(edge.Env{Name: in.Name}, yamlOptions{node: in.Options.Node})
			if err != nil {
				t.Fatalf("input %q from README: %v", in.Name, err)
			}
			if devs := d.Devices(); len(devs) != 2 || devs[0].Driver != in.Name || devs[0].Location == "" {
				t.Errorf("input %q devices: %+v", in.Name, devs)
			}
			seen["in:"+in.Driver]++
		}
		for _, out := range doc.Outputs {
			f, err := edge.LookupOutput(out.Driver)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f(edge.Env{Name: out.Name}, yamlOptions{node: out.Options.Node}); err != nil {
				t.Fatalf("output %q from README: %v", out.Name, err)
			}
			seen["out:"+out.Driver]++
		}
	}
	for _, k := range []string{"in:gpio", "out:gpio", "in:modemlines", "out:modemlines"} {
		if seen[k] != 1 {
			t.Errorf("README: %d samples of %s, want 1", seen[k], k)
		}
	}
}
