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

// TestReadmeSampleValidates puts the README's sample blocks into a whole
// gateway config, parses it with the gateway's config loader (strict, as
// `edgegw validate` does), builds every input and output with its factory,
// and checks the sample camera line decodes as the README says.
func TestReadmeSampleValidates(t *testing.T) {
	doc := "gateway: {id: t}\n" + strings.Join(readmeBlocks(t), "")
	cfg, err := config.Parse("README.md", []byte(doc))
	if err != nil {
		t.Fatalf("README sample does not validate: %v\n%s", err, doc)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatalf("README sample: %v", err)
	}
	if len(cfg.Inputs) != 1 || len(cfg.Outputs) != 3 {
		t.Fatalf("got %d inputs and %d outputs, want 1 and 3", len(cfg.Inputs), len(cfg.Outputs))
	}
	in := cfg.Inputs[0]
	f, err := edge.LookupDriver(in.Driver)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f(edge.Env{Name: in.Name}, cfg.InputOptions(0))
	if err != nil {
		t.Fatalf("input %q from README: %v", in.Name, err)
	}
	devs := d.Devices()
	if len(devs) != 1 || devs[0].ID != "cam3" || devs[0].Location != "sunrise/b3" || devs[0].Driver != in.Name {
		t.Fatalf("devices: got %+v", devs)
	}
	drv := d.(*Driver)
	if drv.opts.Framing.MaxLength != 256 || drv.opts.Baud != 9600 || !*drv.opts.Framing.StripCR {
		t.Fatalf("decoded options %+v", drv.opts)
	}
	evs, dev, err := drv.mapper.Map([]byte("ALARM,CAM3,FALL,2026-11-29T10:00:00"), nil)
	if err != nil || dev != "cam3" || len(evs) != 1 || evs[0].Text != "FALL" || evs[0].Point != "alarm" || evs[0].Kind != edge.KindState || evs[0].Value != 1 {
		t.Fatalf("sample frame: got %+v, %q, %v", evs, dev, err)
	}
	for i, out := range cfg.Outputs {
		f, err := edge.LookupOutput(out.Driver)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f(edge.Env{Name: out.Name}, cfg.OutputOptions(i)); err != nil {
			t.Fatalf("output %q from README: %v", out.Name, err)
		}
	}
}

// TestReadmeSampleStrictYAML also strict-decodes the blocks with goccy/go-yaml
// alone, so the sample stays valid YAML for any tool.
func TestReadmeSampleStrictYAML(t *testing.T) {
	for _, block := range readmeBlocks(t) {
		var doc struct {
			Inputs  []config.Input  `yaml:"inputs"`
			Outputs []config.Output `yaml:"outputs"`
		}
		if err := yaml.UnmarshalWithOptions([]byte(block), &doc, yaml.Strict()); err != nil {
			t.Fatalf("README block does not parse: %v", err)
		}
		for _, in := range doc.Inputs {
			if _, err := New(edge.Env{Name: in.Name}, yamlOptions{Node: in.Options.Node}); err != nil {
				t.Fatalf("input %q: %v", in.Name, err)
			}
		}
		for _, out := range doc.Outputs {
			if _, err := NewOutput(edge.Env{Name: out.Name}, yamlOptions{Node: out.Options.Node}); err != nil {
				t.Fatalf("output %q: %v", out.Name, err)
			}
		}
	}
}

// TestConfigErrorsNameLine: a mistake in the serial options is reported by
// the config loader with file:line and the field.
func TestConfigErrorsNameLine(t *testing.T) {
	doc := "gateway: {id: t}\ninputs:\n  - name: camera\n    driver: serial\n    options:\n      port: /dev/ttyUSB0\n      parity: weird\n      devices: [{id: cam3}]\n      decode: {regexp: {pattern: '(?P<s>.*)', points: [{group: s, kind: state}]}}\n"
	cfg, err := config.Parse("site.yaml", []byte(doc))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:") || !strings.Contains(err.Error(), "parity") {
		t.Fatalf("got %v, want an error naming site.yaml:line and parity", err)
	}
	t.Log(err)
}

func TestReadmeUnknownKeyRejected(t *testing.T) {
	_, err := New(edge.Env{}, yamlOptions{Data: []byte("port: /dev/x\nbaudrate: 9600\ndevices: [{id: a}]\ndecode: {regexp: {pattern: '(?P<v>.*)', points: [{group: v}]}}\n")})
	if err == nil || !strings.Contains(err.Error(), "baudrate") {
		t.Fatalf("got %v, want an error naming the unknown key baudrate", err)
	}
}
