//go:build !windows

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunExitCodes runs the real binary into each failure that has its own
// exit code (docs/install.md, "Exit codes"), which systemd's restart policy
// reads: 78 (invalid config: no restart), 73 (store cannot be opened), and
// the Go runtime's 2 for a crash, which nothing else uses.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("EDGEGW_CONFIG", filepath.Join(dir, "none.yaml")) // the packages' path, absent
	bad := write("bad.yaml", "gateway: {id: gw}\nstore: {capp: 1GiB}\n")
	notDir := write("not-a-dir", "a file where the data directory should be\n")
	storeFile := write("store-file.yaml", fmt.Sprintf("gateway: {id: gw}\nstore: {dir: %q}\nstatus: {listen: %q}\n", notDir, freeAddr(t)))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid config", []string{"run", "--config", bad}, 78, bad + ":2:"},
		{"invalid config, as the service runs it", []string{"service", "run", "--config", bad}, 78, bad + ":2:"},
		{"missing config", []string{"run", "--config", filepath.Join(dir, "none.yaml")}, 78, "cannot read the config"},
		{"validate a missing file", []string{"validate", filepath.Join(dir, "none.yaml")}, 78, "cannot read the config"},
		{"store dir is a file", []string{"run", "--config", storeFile}, 73, "cannot open store"},
		{"usage", []string{"run", "extra-arg"}, 64, `unexpected argument "extra-arg"`},
		{"no config: the packages' path", []string{"run"}, 78, "cannot read the config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e, code := edgegw(t, c.args...)
			if code != c.code || !strings.Contains(e, c.want) {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, c.code, c.want, e)
			}
		})
	}
}

// TestCrashExitCode: a crash is the Go runtime's exit 2 with a stack dump
// (SIGQUIT makes the runtime dump and exit as for an unrecovered panic);
// no edgegw failure uses 2.
func TestCrashExitCode(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("gateway: {id: gw-crash}\nstore: {dir: %q, cap: 64MiB}\nstatus: {listen: %q}\ninputs: [{name: c, driver: sim}]\n",
		filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(edgegwBin, "run", "--config", cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait for the log line that says it runs, then keep reading stderr.
	var e bytes.Buffer
	running, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		up := false
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			e.WriteString(sc.Text() + "\n")
			if !up && strings.Contains(sc.Text(), "status server listening") {
				up = true
				close(running)
			}
		}
	}()
	select {
	case <-running:
	case <-done:
		t.Fatalf("gateway exited before running:\n%s", e.String()) // done: e is no longer written
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not come up")
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	<-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(e.String(), "goroutine ") {
		t.Fatalf("after SIGQUIT: %v, want exit 2 with a stack dump; stderr:\n%.2000s", err, e.String())
	}
}
