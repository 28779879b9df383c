package main

import (
	"os"
	"os/exec"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"
)

// builtDir holds the binaries the process tests build once per package run
// (removed by TestMain).
var (
	builtOnce gosync.Once
	builtDir  string
	builtErr  error
	builtBins = map[string]string{}
)

// binary builds, once per package run, the real edgecentral (this package,
// without -race, so that its memory is what users get) and nats-server
// from the version go.mod pins, and returns the path of name
// ("edgecentral" or "nats-server"). CGO_ENABLED=0 as the release builds:
// the cross-build step of test.sh leaves those packages in the build cache.
func binary(t *testing.T, name string) string {
	t.Helper()
	builtOnce.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "edgecentral-bins-"); builtErr != nil {
			return
		}
		for _, b := range []struct{ name, pkg string }{
			{"edgecentral", "."},
			{"nats-server", "github.com/nats-io/nats-server/v2"},
		} {
			start := time.Now()
			out := filepath.Join(builtDir, b.name)
			cmd := exec.Command("go", "build", "-o", out, b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
			if o, err := cmd.CombinedOutput(); err != nil {
				builtErr = &buildError{b.name, err, string(o)}
				return
			}
			t.Logf("built %s in %.1fs", b.name, time.Since(start).Seconds())
			builtBins[b.name] = out
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtBins[name]
}

type buildError struct {
	name string
	err  error
	out  string
}

func (e *buildError) Error() string {
	return "go build " + e.name + ": " + e.err.Error() + "\n" + e.out
}

// removeBuilt deletes what binary built.
func removeBuilt() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}
