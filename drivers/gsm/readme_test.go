package gsm

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

type yamlOptions struct{ node ast.Node }

func (y yamlOptions) Decode(v any) error { return yaml.NodeToValue(y.node, v, yaml.Strict()) }
func (y yamlOptions) Errorf(field, format string, args ...any) error {
	return fmt.Errorf("options.%s: %s", field, fmt.Sprintf(format, args...))
}

func TestReadmeSampleValidates(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(outputs:.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no outputs: yaml block")
	}
	var doc struct {
		Outputs []config.Output `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(m[1], &doc, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if len(doc.Outputs) != 1 {
		t.Fatalf("got %d outputs, want 1", len(doc.Outputs))
	}
	f, err := edge.LookupOutput(doc.Outputs[0].Driver)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f(edge.Env{Name: doc.Outputs[0].Name}, yamlOptions{doc.Outputs[0].Options.Node})
	if err != nil {
		t.Fatalf("README sample: %v", err)
	}
	o := out.(*Output)
	if len(o.opts.To) != 2 || o.opts.Baud != 115200 || o.opts.SendTimeout.D().Seconds() != 60 {
		t.Fatalf("decoded %+v", o.opts)
	}
}
