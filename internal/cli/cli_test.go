package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailure},
		{fmt.Errorf("%w: want one file", ErrUsage), ExitUsage},
		{fmt.Errorf("gw.yaml: %w", edge.ErrInvalidConfig), ExitBadConfig},
		{fmt.Errorf("open store: %w", edge.ErrStoreOpen), ExitStoreOpen},
		{fmt.Errorf("open store: %w: %w", edge.ErrStoreOpen, edge.ErrDiskFull), ExitDiskFull},
		{fmt.Errorf("open /dev/ttyUSB0: %w", edge.ErrPortInUse), ExitPortInUse},
		{errors.Join(errors.New("x"), fmt.Errorf("y: %w", edge.ErrInvalidConfig)), ExitBadConfig},
		{&ExitError{Code: 3}, 3},
		{fmt.Errorf("wrapped: %w", &ExitError{Code: 5, Err: edge.ErrInvalidConfig}), 5},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v): got %d, want %d", c.err, got, c.want)
		}
	}
	// 2 is the Go runtime's crash code: no error maps to it.
	for _, code := range []int{ExitUsage, ExitPortInUse, ExitStoreOpen, ExitDiskFull, ExitBadConfig, ExitDataErr} {
		if code == ExitCrash {
			t.Errorf("exit code %d is the crash code", code)
		}
	}
}

func TestMainExitCodes(t *testing.T) {
	app := &App{Name: "x", Summary: "test"}
	var flagN int
	app.Register(&Command{Name: "ok", Run: func(context.Context, *Env, []string) error { return nil }})
	app.Register(&Command{Name: "usage", Run: func(context.Context, *Env, []string) error {
		return fmt.Errorf("%w: want a file", ErrUsage)
	}})
	app.Register(&Command{Name: "config", Run: func(context.Context, *Env, []string) error {
		return fmt.Errorf("gw.yaml:3:1: junk: %w", edge.ErrInvalidConfig)
	}})
	app.Register(&Command{Name: "quiet", Run: func(context.Context, *Env, []string) error { return &ExitError{Code: 4} }})
	app.Register(&Command{Name: "fail", Run: func(context.Context, *Env, []string) error { return errors.New("boom") }})
	app.Register(&Command{Name: "flags", Flags: func(fs *flag.FlagSet) { fs.IntVar(&flagN, "n", 0, "n") },
		Run: func(context.Context, *Env, []string) error { return nil }})
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, ExitUsage, "Usage: x <command>"},
		{[]string{"help"}, 0, ""},
		{[]string{"ok"}, 0, ""},
		{[]string{"nope"}, ExitUsage, `unknown command "nope"`},
		{[]string{"flags", "--bogus"}, ExitUsage, "bogus"},
		{[]string{"flags", "-h"}, 0, ""},
		{[]string{"usage"}, ExitUsage, "x usage: usage: want a file\nRun 'x help usage' for usage."},
		{[]string{"config"}, ExitBadConfig, "x config: gw.yaml:3:1: junk: invalid config"},
		{[]string{"quiet"}, 4, ""},
		{[]string{"fail"}, ExitFailure, "x fail: boom"},
	}
	for _, c := range cases {
		var o, e bytes.Buffer
		code := app.Main(context.Background(), c.args, &Env{Stdout: &o, Stderr: &e})
		if code != c.code || !strings.Contains(e.String(), c.stderr) {
			t.Errorf("%v: got %d %q, want %d with %q", c.args, code, e.String(), c.code, c.stderr)
		}
		if c.stderr == "" && e.Len() > 0 {
			t.Errorf("%v: stderr %q, want none", c.args, e.String())
		}
	}
}

// The command line as installers type it: flags before or after the
// arguments, the old single-dash long flags, --help on groups, a group
// alone is a usage error, and a group's commands may share variables that
// each Flags call makes afresh.
func TestCommandLine(t *testing.T) {
	app := &App{Name: "x", Summary: "test", Groups: map[string]string{"output": "drive outputs"}}
	type opts struct {
		config string
		force  bool
	}
	var shared *opts
	var got []string
	flags := func(fs *flag.FlagSet) {
		shared = &opts{}
		fs.StringVar(&shared.config, "config", "", "config file")
		fs.BoolVar(&shared.force, "force", false, "overwrite")
	}
	record := func(_ context.Context, _ *Env, args []string) error {
		got = append([]string{shared.config, fmt.Sprint(shared.force)}, args...)
		return nil
	}
	app.Register(&Command{Name: "output test", Short: "test one output", Usage: "Tests one.\n\nExample:\n  x output test siren", Flags: flags, Run: record})
	app.Register(&Command{Name: "output list", Short: "list outputs", Flags: flags, Run: record})
	app.Register(&Command{Name: "init", Short: "write a config", Flags: flags, Run: record})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"output", "test", "siren", "--config", "a.yaml"}, "a.yaml false siren"},
		{[]string{"output", "test", "--config", "a.yaml", "siren"}, "a.yaml false siren"},
		{[]string{"output", "test", "siren", "-config", "b.yaml"}, "b.yaml false siren"},
		{[]string{"output", "test", "siren", "-config=c.yaml"}, "c.yaml false siren"},
		{[]string{"init", "x.yaml", "--force"}, " true x.yaml"},
		{[]string{"init", "--", "--force"}, " false --force"},
	} {
		got = nil
		var o, e bytes.Buffer
		if code := app.Main(context.Background(), c.args, &Env{Stdout: &o, Stderr: &e}); code != 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, e.String())
			continue
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%v: ran with %q, want %q", c.args, s, c.want)
		}
	}
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"output", "--help"}, 0, "Usage: x output <command>\n\ndrive outputs\n\nCommands:\n  list", ""},
		{[]string{"output", "test", "--help"}, 0, "Usage: x output test [flags] [args]\n\nTests one.", ""},
		{[]string{"help", "output", "test"}, 0, "Example:\n  x output test siren", ""},
		{[]string{"output"}, ExitUsage, "", "Commands:"},
		{[]string{"output", "nope"}, ExitUsage, "", `unknown command "nope"`},
		{[]string{"completion", "bash"}, 0, "bash completion", ""},
	} {
		var o, e bytes.Buffer
		code := app.Main(context.Background(), c.args, &Env{Stdout: &o, Stderr: &e})
		if code != c.code || !strings.Contains(o.String(), c.stdout) || !strings.Contains(e.String(), c.stderr) {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q\nwant %d, %q, %q", c.args, code, o.String(), e.String(), c.code, c.stdout, c.stderr)
		}
	}
}

func TestManPages(t *testing.T) {
	app := &App{Name: "x", Summary: "test"}
	app.Register(&Command{Name: "probe serial", Short: "show bytes", Usage: "Shows bytes.", Run: func(context.Context, *Env, []string) error { return nil }})
	dir := t.TempDir()
	if err := app.Man(dir, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "x-probe-serial.1"))
	if err != nil || !strings.Contains(string(b), "Shows bytes.") {
		t.Fatalf("man page: %v\n%s", err, b)
	}
}
