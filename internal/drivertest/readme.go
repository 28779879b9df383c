package drivertest

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Built is one input or output a README sample describes, built by its
// registered factory.
type Built struct {
	Input  bool
	Name   string
	Driver string
	Value  any // the edge.Driver or edge.Output
}

// ReadmeSamples parses every README.md yaml block that is a config section
// (inputs: or outputs:) as a whole config with the gateway's loader (strict,
// file:line errors), checks it as `edgegw validate` does, and builds each
// input and output. The test fails on any error.
func ReadmeSamples(t *testing.T) []Built {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []Built
	for i, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "inputs:") && !strings.HasPrefix(m[1], "outputs:") {
			continue
		}
		data := "gateway:\n  id: readme-test\n" + m[1]
		cfg, err := config.Parse(fmt.Sprintf("README.md block %d", i), []byte(data))
		if err == nil {
			err = config.CheckDrivers(cfg)
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		for j, in := range cfg.Inputs {
			f, err := edge.LookupDriver(in.Driver)
			if err != nil {
				t.Fatal(err)
			}
			d, err := f(edge.Env{Name: in.Name}, cfg.InputOptions(j))
			if err != nil {
				t.Fatalf("input %q from README: %v", in.Name, err)
			}
			out = append(out, Built{Input: true, Name: in.Name, Driver: in.Driver, Value: d})
		}
		for j, o := range cfg.Outputs {
			f, err := edge.LookupOutput(o.Driver)
			if err != nil {
				t.Fatal(err)
			}
			v, err := f(edge.Env{Name: o.Name}, cfg.OutputOptions(j))
			if err != nil {
				t.Fatalf("output %q from README: %v", o.Name, err)
			}
			out = append(out, Built{Name: o.Name, Driver: o.Driver, Value: v})
		}
	}
	return out
}
