package gpio

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

// TestReadmeSampleValidates parses every sample block as a whole config with
// the gateway's loader (config.Parse, strict, file:line errors) and builds
// its inputs and outputs as `edgegw validate` does (config.CheckDrivers).
func TestReadmeSampleValidates(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "inputs:") && !strings.HasPrefix(m[1], "outputs:") {
			continue
		}
		data := "gateway:\n  id: readme-test\n" + m[1]
		cfg, err := config.Parse(fmt.Sprintf("README.md block %d", i), []byte(data))
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		if err := config.CheckDrivers(cfg); err != nil {
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
			if devs := d.Devices(); len(devs) != 2 || devs[0].Driver != in.Name || devs[0].Location == "" {
				t.Errorf("input %q devices: %+v", in.Name, devs)
			}
			seen["in:"+in.Driver]++
		}
		for j, out := range cfg.Outputs {
			f, err := edge.LookupOutput(out.Driver)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f(edge.Env{Name: out.Name}, cfg.OutputOptions(j)); err != nil {
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
