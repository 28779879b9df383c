package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/edge/status"
)

// TestServiceRunDrainsOnSIGTERM runs `edgegw service run` as a real process
// (what systemd starts), waits until the gateway is ready, sends SIGTERM
// like `systemctl stop`, and expects a clean exit well within the stop
// timeout.
func TestServiceRunDrainsOnSIGTERM(t *testing.T) {
	if edgegwBin == "" {
		t.Fatal("no edgegw binary (TestMain builds it)")
	}
	dir := t.TempDir()
	port := opsFreePort(t)
	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte(`gateway: {id: svc-test}
store: {dir: `+filepath.Join(dir, "data")+`, cap: 64MiB}
status: {listen: "`+port+`"}
inputs:
  - {name: compound, driver: sim, options: {rate: 200}}
`), 0o644)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(edgegwBin, "service", "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	logs := watchLog(r)
	done := make(chan error, 1)
	go func() { logs.wait(); done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("service output:\n%s", logs.String())
		}
	}()
	logs.waitFor(t, 60*time.Second, "status server listening", "gateway running")
	// Healthy once its simulated devices have reported (they start offline).
	var out string
	var code int
	defer func() {
		if t.Failed() && code != 0 {
			t.Logf("status of the service-run gateway: exit %d\n%s", code, out)
		}
	}()
	poll(t, 30*time.Second, "a healthy status of the service-run gateway", func() bool {
		out, _, code = edgegw(t, "status", "--url", "http://"+port)
		return code == 0
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("service run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service run did not stop within 30s of SIGTERM (systemd's TimeoutStopSec)")
	}
	if !strings.Contains(logs.String(), "gateway stopped") {
		t.Errorf("no clean drain in the log")
	}
	// The store was closed cleanly: the status command now says not running.
	if _, _, code := edgegw(t, "status", "--url", "http://"+port); code != status.ExitNotRunning {
		t.Errorf("status after stop: exit %d, want %d", code, status.ExitNotRunning)
	}
}

func TestServiceUnitCommand(t *testing.T) {
	out, errOut, code := edgegw(t, "service", "unit", "--config", "/etc/edgegw/edgegw.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, err := service.Unit(service.Settings{ConfigPath: "/etc/edgegw/edgegw.yaml", Executable: edgegwBin, UserName: service.DetectUser()})
	if err != nil {
		t.Fatal(err)
	}
	if out != want {
		t.Fatalf("service unit printed:\n%s\nwant:\n%s", out, want)
	}
	if _, _, code := edgegw(t, "service", "install", "extra-arg"); code != 64 {
		t.Errorf("service install with an argument: exit %d, want 64", code)
	}
}

func opsFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
