package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/config"
)

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg := parse(t, "gateway:\n  id: gw1\n")
	checks := []struct {
		name      string
		got, want any
	}{
		{"site", cfg.Gateway.Site, "gw1"},
		{"timezone", cfg.Gateway.Timezone, "Local"},
		{"dir", cfg.Store.Dir, config.DefaultDataDir()},
		{"cap", cfg.Store.Cap, config.ByteSize(1 << 30)},
		{"commit_wait", cfg.Store.CommitWait.D(), 5 * time.Millisecond},
		{"history", cfg.Store.History.D(), 168 * time.Hour},
		{"gc_interval", cfg.Store.GCInterval.D(), 5 * time.Minute},
		{"log level", cfg.Log.Level, "info"},
		{"log format", cfg.Log.Format, "text"},
		{"status listen", cfg.Status.Listen, config.DefaultStatusListen},
		{"file", cfg.File(), "gw.yaml"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValues(t *testing.T) {
	cfg := parse(t, `
gateway: {id: gw1, site: North, timezone: Europe/Berlin}
store: {dir: /data, cap: 64MiB, commit_wait: 0s, history: 2h, gc_interval: 1m}
log: {level: debug, format: json}
`)
	if cfg.Store.Cap != 64<<20 || cfg.Store.Dir != "/data" || cfg.Store.History.D() != 2*time.Hour ||
		cfg.Log.Format != "json" || cfg.Gateway.Timezone != "Europe/Berlin" {
		t.Errorf("got %+v", cfg)
	}
	// commit_wait: 0s written in the file means "no wait", not the default.
	if cfg.Store.CommitWait.D() != 0 {
		t.Errorf("commit_wait: got %v, want 0", cfg.Store.CommitWait)
	}
}

// TestEveryProblem: one file with many problems reports them all, in order.
func TestEveryProblem(t *testing.T) {
	src := `gateway:
  id: "bad id"
  timezone: Nowhere/Land
store:
  cap: 1KiB
  commit_wait: soon
  junk: 1
log:
  level: loud
inputs:
  - name: a
    driver: nope
  - name: a
    driver: sim
    extra: 1
`
	_, err := config.Parse("gw.yaml", []byte(src))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *config.Error", err)
	}
	want := []string{
		"gw.yaml:2:3: gateway.id:",
		"gw.yaml:3:3: gateway.timezone:",
		"gw.yaml:5:3: store.cap:",
		"gw.yaml:6:16: store.commit_wait: invalid duration",
		"gw.yaml:7:3: store.junk: unknown field",
		"gw.yaml:9:3: log.level:",
		"gw.yaml:12:5: inputs[0].driver: unknown driver",
		"gw.yaml:13:5: inputs[1].name: duplicate input name",
		"gw.yaml:15:5: inputs[1].extra: unknown field",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || len(ce.Problems) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(lines), err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestErrorf(t *testing.T) {
	cfg := parse(t, `gateway:
  id: gw1
inputs:
  - name: a
    driver: sim
    options:
      seed: 3
      rate: 10
rules:
  - name: r0
  - name: r1
    when: event.value > 1
`)
	cases := []struct{ field, want string }{
		{"rules[1].when", "gw.yaml:12:5: rules[1].when: boom"},
		{"rules[1]", "gw.yaml:11:5: rules[1]: boom"},
		{"rules[1].for", "gw.yaml:11:5: rules[1].for: boom"}, // not in the file: its rule
		{"rules[7].when", "gw.yaml:9:1: rules[7].when: boom"},
		{"inputs[0].options.rate", "gw.yaml:8:7: inputs[0].options.rate: boom"},
		{"store.cap", "gw.yaml:1:1: store.cap: boom"},
		{"gateway.id", "gw.yaml:2:3: gateway.id: boom"},
	}
	for _, c := range cases {
		if got := cfg.Errorf(c.field, "%s", "boom").Error(); got != c.want {
			t.Errorf("Errorf(%q): got %q, want %q", c.field, got, c.want)
		}
	}
	o := cfg.InputOptions(0)
	if got, want := o.Errorf("seed", "bad seed %d", 3).Error(), "gw.yaml:7:7: inputs[0].options.seed: bad seed 3"; got != want {
		t.Errorf("options Errorf: got %q, want %q", got, want)
	}
}

type devOpts struct {
	Port    string `yaml:"port"`
	Devices []struct {
		ID    string          `yaml:"id"`
		Slave int             `yaml:"slave"`
		Every config.Duration `yaml:"every"`
	} `yaml:"devices"`
	Extra map[string]int `yaml:"extra"`
}

func TestOptionsDecode(t *testing.T) {
	cfg := parse(t, `gateway: {id: gw1}
inputs:
  - name: a
    driver: sim
  - name: b
    driver: sim
    options:
      port: /dev/ttyUSB0
      devices:
        - {id: d1, slave: 1, every: 1s}
        - {id: d2, slave: x, every: 1y, color: red}
      extra: {a: 1, b: two}
`)
	var empty devOpts
	if err := cfg.InputOptions(0).Decode(&empty); err != nil || empty.Port != "" {
		t.Errorf("absent options: got %+v, %v", empty, err)
	}
	var o devOpts
	err := cfg.InputOptions(1).Decode(&o)
	want := []string{
		"gw.yaml:11:27: inputs[1].options.devices[1].slave: want an integer, got string \"x\"",
		"gw.yaml:11:37: inputs[1].options.devices[1].every: invalid duration \"1y\"",
		"gw.yaml:11:41: inputs[1].options.devices[1].color: unknown field \"color\"",
		"gw.yaml:12:24: inputs[1].options.extra.b: want an integer, got string \"two\"",
	}
	got := strings.Split(fmt.Sprint(err), "\n")
	if len(got) != len(want) {
		t.Fatalf("got\n%v\nwant %d problems", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: got %q, want prefix %q", i, got[i], want[i])
		}
	}
	if o.Port != "/dev/ttyUSB0" || len(o.Devices) != 2 || o.Devices[0].Every.D() != time.Second || o.Extra["a"] != 1 {
		t.Errorf("decoded %+v", o)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	cfg := parse(t, `gateway: {id: gw1}
inputs:
  - name: a
    driver: sim
    options: &base
      rate: 10
      buildings: 2
  - name: b
    driver: sim
    options:
      <<: *base
      rate: 20
`)
	var a, b struct {
		Rate      float64 `yaml:"rate"`
		Buildings int     `yaml:"buildings"`
	}
	if err := cfg.InputOptions(0).Decode(&a); err != nil {
		t.Fatal(err)
	}
	if err := cfg.InputOptions(1).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if a.Rate != 10 || a.Buildings != 2 || b.Rate != 20 || b.Buildings != 2 {
		t.Errorf("got a=%+v b=%+v", a, b)
	}
}

func TestProblemsOfJoined(t *testing.T) {
	cfg := parse(t, "gateway:\n  id: gw1\n")
	err := errors.Join(cfg.Errorf("gateway.id", "one"), fmt.Errorf("wrapped: %w", cfg.Errorf("gateway", "two")), errors.New("plain"))
	err = fmt.Errorf("outer: %w", errors.Join(err, cfg.Errorf("gateway.id", "four")))
	ps := config.Problems(err)
	if len(ps) != 4 || ps[0].Line != 2 || ps[1].Line != 1 || ps[2].Msg != "plain" || ps[3].Msg != "four" {
		t.Errorf("got %+v", ps)
	}
	// A Config built in code has no file: errors name only the field.
	var c config.Config
	if got := c.Errorf("gateway.id", "x").Error(); got != "gateway.id: x" {
		t.Errorf("got %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("/nonexistent/gw.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/gw.yaml") {
		t.Errorf("got %v", err)
	}
}

// TestAliasBomb: aliases that would expand to 10^9 nodes are refused by
// Parse, before anything is decoded, with the line of the alias that goes
// past the limit, instead of eating the box.
func TestAliasBomb(t *testing.T) {
	src := "gateway: {id: gw1}\ninputs:\n  - name: a\n    driver: sim\n    options:\n"
	src += "      a0: &a0 [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}]\n"
	for i := 1; i < 9; i++ {
		src += fmt.Sprintf("      a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				src += ", "
			}
			src += fmt.Sprintf("{k: *a%d}", i-1)
		}
		src += "]\n"
	}
	_, err := config.Parse("gw.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), "gw.yaml:11:") || !strings.Contains(err.Error(), "aliases expand the document past") {
		t.Fatalf("got %v", err)
	}
}

// TestSectionValidate: a section's own Validate (status here) is called
// after its SetDefaults and its problems get file:line.
func TestSectionValidate(t *testing.T) {
	_, err := config.Parse("gw.yaml", []byte("gateway: {id: gw1}\nstatus:\n  listen: 0.0.0.0:8780\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "gw.yaml:3:3: status.listen: listening on") {
		t.Errorf("got %v", err)
	}
}

func TestByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want config.ByteSize
		ok   bool
	}{
		{"1GiB", 1 << 30, true}, {"64 MiB", 64 << 20, true}, {"1000", 1000, true}, {"1.5KiB", 1536, true},
		{"2MB", 2e6, true}, {"NaN", 0, false}, {"-1", 0, false}, {"1e30GiB", 0, false}, {"lots", 0, false}, {"", 0, false},
	}
	for _, c := range cases {
		var b config.ByteSize
		err := b.UnmarshalText([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && b != c.want) {
			t.Errorf("%q: got %v, %v; want %v, ok %v", c.in, b, err, c.want, c.ok)
		}
	}
}

func TestStrictScalars(t *testing.T) {
	cases := []struct{ src, want string }{
		{"status: {login_attempts: 7.5}", `gw.yaml:2:26: status.login_attempts: want an integer, got number 7.5`},
		{"status: {login_attempts: \"7\"}", `gw.yaml:2:26: status.login_attempts: want an integer, got string "7"`},
		{"rules: [{name: r, schedule: {outside: yes}}]", `gw.yaml:2:39: rules[0].schedule.outside: want true or false, got string "yes"`},
		{"store: {cap: [1]}", `gw.yaml:2:14: store.cap: want a single value, got a list`},
		{"status: {login_attempts: 99999999999999999999}", `gw.yaml:2:26: status.login_attempts: want an integer, got string "99999999999999999999"`},
	}
	for _, c := range cases {
		_, err := config.Parse("gw.yaml", []byte("gateway: {id: gw1}\n"+c.src+"\n"))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\ngot  %v\nwant %s", c.src, err, c.want)
		}
	}
}
