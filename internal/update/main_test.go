package update

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the gateway versions the loader starts: a
// version's binary is a symlink to it, and D/behaviour.json says what each
// version does. envDir names D.
const envDir = "UPDATE_TEST_DIR"

func TestMain(m *testing.M) {
	if d := os.Getenv(envDir); d != "" && IsChild() {
		os.Exit(fakeGateway(Dir(d)))
	}
	if d := os.Getenv(envDir); d != "" && os.Getenv("UPDATE_TEST_LOADER") == "1" {
		os.Exit(loaderProcess(Dir(d)))
	}
	os.Exit(m.Run())
}

// The behaviours of a fake version.
const (
	behHealthy     = "healthy"      // on trial: write health.json; then run until SIGTERM
	behCrash       = "crash"        // print to stderr, exit 1
	behHang        = "hang"         // never healthy; run until SIGTERM
	behStage       = "stage"        // stage the version in behaviour.json's "stage", exit ExitRestart
	behExit78      = "exit78"       // exit 78 (an invalid config)
	behHealthyExit = "healthy-exit" // on trial: write health.json, then exit 3 at once
)

func setBehaviour(t *testing.T, d Dir, b map[string]string) {
	t.Helper()
	if err := writeJSON(d.path("behaviour.json"), b); err != nil {
		t.Fatal(err)
	}
}

func fakeGateway(d Dir) int {
	v := filepath.Base(filepath.Dir(os.Args[0]))
	var b map[string]string
	raw, err := os.ReadFile(d.path("behaviour.json"))
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake gateway:", err)
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Fprintf(os.Stderr, "fake gateway %s: %s (trial %q)\n", v, b[v], TrialVersion())
	switch b[v] {
	case behCrash:
		fmt.Fprintf(os.Stderr, "boom: version %s cannot start\n", v)
		return 1
	case behExit78:
		return 78
	case behStage:
		if err := d.SetPointer(New, b["stage"]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return ExitRestart
	case behHealthyExit:
		if err := d.SetHealth(Health{Version: TrialVersion(), OKAt: time.Now()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		return 3
	case behHealthy:
		if tv := TrialVersion(); tv != "" {
			if err := d.SetHealth(Health{Version: tv, OKAt: time.Now()}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
	<-term
	return 0
}

// loaderProcess runs a loader in its own process (for the SIGKILL test).
func loaderProcess(d Dir) int {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	l := &Loader{Dir: d, HealthTimeout: time.Hour, StopTimeout: 5 * time.Second, Poll: 20 * time.Millisecond}
	err := l.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
