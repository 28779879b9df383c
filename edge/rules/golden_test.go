package rules

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata")

// fixture is the test-only file format of testdata/<case>/rules.yaml: the
// rules part of a gateway config plus the devices the drivers would
// declare and the output names.
type fixture struct {
	Gateway config.Gateway `yaml:"gateway"`
	Devices []struct {
		ID       string   `yaml:"id"`
		Location string   `yaml:"location"`
		Tags     []string `yaml:"tags"`
		Type     string   `yaml:"type"`
	} `yaml:"devices"`
	Outputs []string `yaml:"outputs"`
	// RulesFile loads the rules from a snippet file (a top-level rules:
	// list), relative to the fixture.
	RulesFile string        `yaml:"rules_file"`
	After     string        `yaml:"after"` // ReplayOptions.After
	Rules     []config.Rule `yaml:"rules"`
}

func loadFixture(t testing.TB, path string) (*Set, []edge.Device, ReplayOptions) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f.RulesFile != "" {
		f.Rules = loadSnippet(t, filepath.Join(filepath.Dir(path), f.RulesFile))
	}
	outs := map[string]bool{}
	for _, o := range f.Outputs {
		outs[o] = true
	}
	set, err := Compile(f.Rules, f.Gateway.Timezone, outs, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var devs []edge.Device
	for _, d := range f.Devices {
		devs = append(devs, edge.Device{ID: d.ID, Location: d.Location, Tags: d.Tags, Type: d.Type})
	}
	var opt ReplayOptions
	if f.After != "" {
		if opt.After, err = time.ParseDuration(f.After); err != nil {
			t.Fatal(err)
		}
	}
	return set, devs, opt
}

func readEventsFile(t testing.TB, path string) []edge.Event {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	evs, err := ReadEvents(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return evs
}

// TestGolden replays testdata/<case>/events.jsonl through
// testdata/<case>/rules.yaml and compares the trace with trace.golden.
// go test ./edge/rules -run TestGolden -update rewrites the traces.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/rules.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, devs, opt := loadFixture(t, p)
			evs := readEventsFile(t, filepath.Join(dir, "events.jsonl"))
			var out bytes.Buffer
			if err := Replay(set, devs, evs, &out, opt); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "trace.golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("trace differs from %s\ngot:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}
			// Replaying the same events twice gives the same trace.
			var again bytes.Buffer
			if err := Replay(set, devs, evs, &again, opt); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Errorf("replay is not deterministic")
			}
		})
	}
}

// loadSnippet reads a rules snippet file: a top-level rules: list.
func loadSnippet(t testing.TB, path string) []config.Rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sn struct {
		Rules []config.Rule `yaml:"rules"`
	}
	if err := yaml.UnmarshalWithOptions(b, &sn, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sn.Rules
}

// The compound rules (copied into the example and demo configs) compile
// against a whole config and every one of them fires on the short event
// file of testdata/compound.
func TestCompoundRules(t *testing.T) {
	cfg := &config.Config{Gateway: config.Gateway{Timezone: "Asia/Shanghai"}, Rules: loadSnippet(t, "testdata/compound-rules.yaml")}
	for _, o := range []string{"voice", "siren", "led", "sms"} {
		cfg.Outputs = append(cfg.Outputs, config.Output{Name: o})
	}
	set, err := CompileRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 6 {
		t.Fatalf("%d rules, want 6", set.Len())
	}
	// Without the outputs the references are errors naming the fields.
	cfg.Outputs = cfg.Outputs[:1]
	if _, err := CompileRules(cfg); err == nil || !strings.Contains(err.Error(), "rules[2].actions[0].output") {
		t.Errorf("missing siren: got %v, want an error naming rules[2].actions[0].output", err)
	}
	fset, devs, opt := loadFixture(t, "testdata/compound/rules.yaml")
	var out bytes.Buffer
	if err := Replay(fset, devs, readEventsFile(t, "testdata/compound/events.jsonl"), &out, opt); err != nil {
		t.Fatal(err)
	}
	for _, name := range set.Names() {
		if !strings.Contains(out.String(), "firing       "+name+" ") {
			t.Errorf("rule %s never fired:\n%s", name, out.String())
		}
	}
}
