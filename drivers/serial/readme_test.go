package serial

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/goccy/go-yaml"
)

// readmeBlocks returns the README's yaml blocks that are whole config
// sections (they start with inputs: or outputs:).
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.HasPrefix(m[1], "inputs:") || strings.HasPrefix(m[1], "outputs:") {
			out = append(out, m[1])
		}
	}
	if len(out) < 2 {
		t.Fatalf("README.md: found %d config blocks, want an inputs and an outputs block", len(out))
	}
	return out
}

// TestReadmeSampleValidates strict-decodes every input and output of the
// README's sample blocks and builds the driver or output from it.
func TestReadmeSampleValidates(t *testing.T) {
	var inputs, outputs int
	for _, block := range readmeBlocks(t) {
		var doc struct {
			Inputs  []config.Input  `yaml:"inputs"`
			Outputs []config.Output `yaml:"outputs"`
		}
		if err := yaml.UnmarshalWithOptions([]byte(block), &doc, yaml.Strict()); err != nil {
			t.Fatalf("README block does not parse: %v\n%s", err, block)
		}
		for _, in := range doc.Inputs {
			if in.Driver != "serial" {
				t.Fatalf("input %q: driver %q, want serial", in.Name, in.Driver)
			}
			f, err := edge.LookupDriver(in.Driver)
			if err != nil {
				t.Fatal(err)
			}
			d, err := f(edge.Env{Name: in.Name}, yamlOptions{node: in.Options.Node})
			if err != nil {
				t.Fatalf("input %q from README: %v", in.Name, err)
			}
			devs := d.Devices()
			if len(devs) != 1 || devs[0].ID != "cam3" || devs[0].Location != "sunrise/b3" || devs[0].Driver != in.Name {
				t.Fatalf("devices: got %+v", devs)
			}
			// The sample's camera line decodes as the README says.
			m := d.(*Driver).mapper
			evs, dev, err := m.Map([]byte("ALARM,CAM3,FALL,2026-11-29T10:00:00"), nil)
			if err != nil || dev != "cam3" || len(evs) != 1 || evs[0].Text != "FALL" || evs[0].Point != "alarm" || evs[0].Kind != edge.KindState {
				t.Fatalf("sample frame: got %+v, %q, %v", evs, dev, err)
			}
			inputs++
		}
		for _, out := range doc.Outputs {
			f, err := edge.LookupOutput(out.Driver)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f(edge.Env{Name: out.Name}, yamlOptions{node: out.Options.Node}); err != nil {
				t.Fatalf("output %q from README: %v", out.Name, err)
			}
			outputs++
		}
	}
	if inputs == 0 || outputs == 0 {
		t.Fatalf("checked %d inputs and %d outputs, want some of each", inputs, outputs)
	}
}

func TestReadmeUnknownKeyRejected(t *testing.T) {
	_, err := New(edge.Env{}, yamlOptions{data: []byte("port: /dev/x\nbaudrate: 9600\ndevices: [{id: a}]\ndecode: {regexp: {pattern: '(?P<v>.*)', points: [{group: v}]}}\n")})
	if err == nil || !strings.Contains(err.Error(), "baudrate") {
		t.Fatalf("got %v, want an error naming the unknown key baudrate", err)
	}
}
