package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
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
