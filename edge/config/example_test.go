package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/edgegw/edgegw/drivers/modbus"
	_ "github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
)

// TestExampleValidates: the example `edgegw init` writes is a valid config
// for every driver registered in this build. Blocks whose driver is not
// registered yet are reported with t.Log and left out of the driver check.
func TestExampleValidates(t *testing.T) {
	cfg, e := config.ParseLoose("example.yaml", config.Example())
	if cfg == nil {
		t.Fatalf("example does not decode:\n%v", e)
	}
	pending := map[string]bool{}
	for _, in := range cfg.Inputs {
		if _, err := edge.LookupDriver(in.Driver); err != nil {
			pending["inputs: "+in.Driver] = true
		}
	}
	for _, o := range cfg.Outputs {
		if _, err := edge.LookupOutput(o.Driver); err != nil {
			pending["outputs: "+o.Driver] = true
		}
	}
	if e != nil {
		for _, p := range e.Problems {
			if strings.HasSuffix(p.Field, ".driver") && strings.Contains(p.Msg, "unknown") {
				continue
			}
			t.Errorf("%v", p)
		}
	}
	for k := range pending {
		t.Logf("not checked, driver not registered in this build: %s", k)
	}
	// Keep the registered blocks only; their options keep their nodes.
	var ins []config.Input
	for _, in := range cfg.Inputs {
		if !pending["inputs: "+in.Driver] {
			ins = append(ins, in)
		}
	}
	var outs []config.Output
	for _, o := range cfg.Outputs {
		if !pending["outputs: "+o.Driver] {
			outs = append(outs, o)
		}
	}
	if len(ins) < 2 || len(outs) < 3 {
		t.Errorf("only %d inputs and %d outputs checked", len(ins), len(outs))
	}
	all := cfg.Outputs
	cfg.Inputs, cfg.Outputs = ins, outs
	if err := config.CheckDrivers(cfg); err != nil {
		t.Errorf("CheckDrivers:\n%v", err)
	}
	cfg.Outputs = all // rules refer to every output by name
	if _, err := rules.CompileRules(cfg); err != nil {
		t.Errorf("rules:\n%v", err)
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
