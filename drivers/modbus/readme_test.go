package modbus

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

// readmeConfigs returns each README yaml block that is a config section
// (inputs: or outputs:), made into a whole config file.
func readmeConfigs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.HasPrefix(m[1], "inputs:") || strings.HasPrefix(m[1], "outputs:") {
			out = append(out, "gateway:\n  id: readme-test\n"+m[1])
		}
	}
	return out
}

// TestReadmeSampleValidates parses every sample block as a whole config with
// the gateway's loader (config.Parse, strict, file:line errors), builds its
// drivers as `edgegw validate` does (config.CheckDrivers), and checks what
// the modbus driver made of it.
func TestReadmeSampleValidates(t *testing.T) {
	var inputs, outputs int
	for i, data := range readmeConfigs(t) {
		name := fmt.Sprintf("README.md block %d", i)
		cfg, err := config.Parse(name, []byte(data))
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
				t.Fatalf("input %q: %v", in.Name, err)
			}
			devs := d.Devices()
			if len(devs) != 3 || devs[2].ID != "b3-di" || devs[2].Location != "sunrise/b3/u2" || devs[0].Driver != "rs485-1" {
				t.Errorf("devices: %+v", devs)
			}
			md := d.(*Driver)
			if len(md.groups) != 2 || md.groups[1].interval.Seconds() != 30 || md.line.Parity != "none" || md.tx.Timeout.Milliseconds() != 300 {
				t.Errorf("groups/line: %+v %+v %+v", md.groups, md.line, md.tx)
			}
			inputs++
		}
		for j, out := range cfg.Outputs {
			f, err := edge.LookupOutput(out.Driver)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f(edge.Env{Name: out.Name}, cfg.OutputOptions(j)); err != nil {
				t.Fatalf("output %q: %v", out.Name, err)
			}
			outputs++
		}
	}
	if inputs != 1 || outputs != 2 {
		t.Fatalf("checked %d inputs and %d outputs, want 1 and 2", inputs, outputs)
	}
}

// TestConfigErrorsNameLine: a mistake in the options, found by the driver,
// comes back from the loader with the file:line of the field.
func TestConfigErrorsNameLine(t *testing.T) {
	data := `gateway:
  id: t
inputs:
  - name: rs485-1
    driver: modbus
    options:
      port: /dev/ttyUSB0
      devices:
        - id: meter
          slave: 1
          points:
            - {name: v, table: holding, address: 0, type: int64}
`
	cfg, err := config.Parse("site.yaml", []byte(data))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:12") || !strings.Contains(err.Error(), "int64") {
		t.Fatalf("got %v, want an error at site.yaml:12 naming int64", err)
	}
	cfg, err = config.Parse("site.yaml", []byte(strings.Replace(data, "port:", "baudrate: 9600\n      port:", 1)))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:7") || !strings.Contains(err.Error(), "baudrate") {
		t.Fatalf("got %v, want an error at site.yaml:7 naming baudrate", err)
	}
}
