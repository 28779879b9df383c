package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var edgegwBin string

func TestMain(m *testing.M) {
	// The CLI follows LANG: the tests (and the docs test) read English,
	// whatever the machine's locale; the i18n tests set their own.
	os.Unsetenv("LC_ALL")
	os.Unsetenv("LC_MESSAGES")
	os.Setenv("LANG", "C.UTF-8")
	dir, err := os.MkdirTemp("", "edgegw-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	edgegwBin = filepath.Join(dir, "edgegw")
	if out, err := exec.Command("go", "build", "-o", edgegwBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build edgegw: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func edgegw(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return edgegwEnv(t, nil, args...)
}

// edgegwEnv runs the edgegw binary with extra environment variables
// ("LANG=zh_CN.UTF-8") and returns its output and exit code.
func edgegwEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(edgegwBin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run edgegw %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func TestEveryCommandHasHelp(t *testing.T) {
	out, _, code := edgegw(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
			f := strings.Fields(l)
			if len(f) > 0 {
				names = append(names, f[0])
			}
		}
	}
	if len(names) < 8 {
		t.Fatalf("help lists %d commands: %v", len(names), names)
	}
	for _, n := range []string{"run", "demo", "validate", "init"} {
		h, _, code := edgegw(t, n, "--help")
		if code != 0 || !strings.Contains(h, "Usage: edgegw "+n) || !strings.Contains(h, "xample") {
			t.Errorf("%s --help: exit %d, no usage or example:\n%s", n, code, h)
		}
	}
	if _, _, code := edgegw(t, "no-such-command"); code != 64 {
		t.Errorf("unknown command: exit %d, want 64", code)
	}
	if _, e, code := edgegw(t, "run", "--bogus"); code != 64 || !strings.Contains(e, "bogus") {
		t.Errorf("bad flag: exit %d, stderr %q; want 64 naming the flag", code, e)
	}
	if _, _, code := edgegw(t); code != 64 {
		t.Errorf("no command: exit %d, want 64", code)
	}
}

func TestInitThenValidate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "edgegw.yaml")
	if _, e, code := edgegw(t, "init", f); code != 0 {
		t.Fatalf("init: exit %d: %s", code, e)
	}
	if _, e, code := edgegw(t, "init", f); code == 0 || !strings.Contains(e, "exists") {
		t.Errorf("init over an existing file: exit %d, %q", code, e)
	}
	out, e, code := edgegw(t, "validate", f)
	if code != 0 {
		t.Fatalf("validate the example: exit %d\n%s%s", code, out, e)
	}
}

func TestValidateBadConfig(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(f, []byte("gateway:\n  id: gw\nstore:\n  commit_wait: soon\n  capp: 1GiB\n"), 0o644)
	_, e, code := edgegw(t, "validate", f)
	if code != 78 {
		t.Fatalf("exit %d, want 78; stderr:\n%s", code, e)
	}
	for _, want := range []string{f + ":4:", f + ":5:", "commit_wait", "capp"} {
		if !strings.Contains(e, want) {
			t.Errorf("stderr does not name %q:\n%s", want, e)
		}
	}
	if strings.Contains(e, "panic") {
		t.Errorf("panic:\n%s", e)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunDrainsOnSIGTERM runs the real binary, waits until it serves its
// status API, sends SIGTERM and expects a clean exit 0.
func TestRunDrainsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
gateway: {id: gw-run}
store: {dir: %q, cap: 64MiB}
status: {listen: %q}
inputs:
  - name: compound
    driver: sim
    options: {rate: 500, buildings: 1, units: 1, households: 2}
`, filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(edgegwBin, "run", "--config", cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	e := watchLog(stderr)
	e.waitFor(t, 20*time.Second, "status server listening", "gateway running")
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { e.wait(); done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, e.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM:\n%s", e.String())
	}
	if !strings.Contains(e.String(), "gateway stopped") {
		t.Errorf("no clean stop in the log:\n%s", e.String())
	}
}

// TestDemoRunsWithoutHardwareOrNetwork runs the real demo until its summary
// line shows the whole path working (events, devices, store, the uplink to
// the embedded central up), then stops it like Ctrl-C and expects a clean
// exit: no fixed run time to wait out.
func TestDemoRunsWithoutHardwareOrNetwork(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(edgegwBin, "demo", "--duration", "2m", "--every", "200ms", "--listen", addr)
	var e bytes.Buffer
	cmd.Stderr = &e
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	want := []string{"ev/s", "devices", "online", "store", "sync up"}
	found := make(chan string, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			all := true
			for _, w := range want {
				all = all && strings.Contains(sc.Text(), w)
			}
			if all && !sent {
				found <- sc.Text()
				sent = true
			}
		}
		close(found)
	}()
	select {
	case line, ok := <-found:
		if !ok {
			cmd.Wait()
			t.Fatalf("demo exited before a summary with %q:\n%s\n%s", want, out.String(), e.String())
		}
		t.Logf("summary: %s", line)
	case <-time.After(60 * time.Second):
		t.Fatalf("no summary line with %q in 60s:\n%s", want, e.String())
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v\n%s", err, e.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo did not stop 30s after Ctrl-C:\n%s", e.String())
	}
}
