package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/edgegw/edgegw/drivers/camera"
	_ "github.com/edgegw/edgegw/drivers/gpio"
	_ "github.com/edgegw/edgegw/drivers/gsm"
	_ "github.com/edgegw/edgegw/drivers/modbus"
	_ "github.com/edgegw/edgegw/drivers/rf433"
	_ "github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/drivers/sim"
	_ "github.com/edgegw/edgegw/drivers/voice"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
)

// TestExampleValidates: the example `edgegw init` writes is a valid config:
// it decodes, every driver and output builds from its options, every rule
// compiles. All drivers are imported here, so none may be missing.
func TestExampleValidates(t *testing.T) {
	cfg, err := config.Parse("example.yaml", config.Example())
	if err != nil {
		t.Fatalf("example:\n%v", err)
	}
	if len(cfg.Inputs) < 4 || len(cfg.Outputs) < 5 || len(cfg.Rules) < 5 {
		t.Errorf("example has only %d inputs, %d outputs, %d rules", len(cfg.Inputs), len(cfg.Outputs), len(cfg.Rules))
	}
	for _, in := range cfg.Inputs {
		if in.Driver == sim.Name {
			t.Errorf("input %q: the example is a real compound, not a simulated one", in.Name)
		}
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Errorf("CheckDrivers:\n%v", err)
	}
	if _, err := rules.CompileRules(cfg); err != nil {
		t.Errorf("rules:\n%v", err)
	}
}

// TestExampleWindowsValidates: the Windows example (edgegw init --windows,
// the zip's edgegw.example.yaml) is valid and names COM ports only.
func TestExampleWindowsValidates(t *testing.T) {
	cfg, err := config.Parse("example_windows.yaml", config.ExampleWindows())
	if err != nil {
		t.Fatalf("windows example:\n%v", err)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Errorf("CheckDrivers:\n%v", err)
	}
	if _, err := rules.CompileRules(cfg); err != nil {
		t.Errorf("rules:\n%v", err)
	}
	for _, in := range cfg.Inputs {
		if in.Driver == "gpio" {
			t.Errorf("input %q: gpio in the Windows example", in.Name)
		}
	}
	if bytes.Contains(config.ExampleWindows(), []byte("/dev/")) {
		t.Errorf("the Windows example names a /dev/ port")
	}
}

// TestDemo: the demo config parses, its drivers build, its rules compile.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Dir != dir || cfg.Inputs[0].Driver != sim.Name {
		t.Errorf("got dir %q, driver %q", cfg.Store.Dir, cfg.Inputs[0].Driver)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.CompileRules(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestExampleFileWritten: the example round-trips through Load from disk.
func TestExampleLoadFromDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "edgegw.yaml")
	if err := os.WriteFile(p, config.DemoYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File() != p || len(cfg.Rules) == 0 {
		t.Errorf("got file %q, %d rules", cfg.File(), len(cfg.Rules))
	}
}

// One port named by two driver families is refused at validate time, with
// the line of the second; one family sharing its bus (a modbus input and
// its relay output) is not.
func TestSharedPortRefused(t *testing.T) {
	src := `gateway: {id: gw}
store: {dir: /tmp/x}
inputs:
  - name: bus
    driver: modbus
    options:
      port: /dev/ttyUSB0
      devices: [{id: t1, slave: 1, points: [{name: temp, table: input, address: 0}]}]
outputs:
  - name: siren
    driver: modbus
    options: {port: /dev/ttyUSB0, slave: 2, table: coil, address: 0}
  - name: sign
    driver: serial
    options:
      port: /dev/ttyUSB0
      send: "{{.Text}}"
`
	cfg, err := config.Parse("shared.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = config.CheckDrivers(cfg)
	ps := config.Problems(err)
	if len(ps) != 1 || ps[0].Line != 16 || !strings.Contains(ps[0].Msg, `port "/dev/ttyUSB0" is also used by input "bus" (driver modbus)`) {
		t.Fatalf("problems %v, want one at line 16 about the sign", ps)
	}
}
