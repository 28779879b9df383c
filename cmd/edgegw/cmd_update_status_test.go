//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/update"
)

// TestServiceRunCommitsStagedVersion: `edgegw service run` finds a staged
// version (this same binary), runs it on trial as a child, commits it once
// it is healthy (no uplink configured: store open and drivers running is
// enough), and `edgegw update status` shows the result.
func TestServiceRunCommitsStagedVersion(t *testing.T) {
	if edgegwBin == "" {
		t.Fatal("no edgegw binary (TestMain builds it)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte(`gateway: {id: upd-test}
store: {dir: `+data+`, cap: 64MiB}
status: {listen: "off"}
inputs:
  - {name: compound, driver: sim, options: {rate: 20}}
`), 0o644)
	d := update.Dir(filepath.Join(data, "update"))
	if err := os.MkdirAll(filepath.Dir(d.Binary("2.0.0")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(edgegwBin, d.Binary("2.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPointer(update.New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
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
	logs.waitFor(t, 60*time.Second, "new version is healthy; committed")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("service run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service run did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "gateway stopped") {
		t.Errorf("the child did not drain")
	}

	out, errOut, code := edgegw(t, "update", "status", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("update status: exit %d: %s", code, errOut)
	}
	var st update.Local
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("update status --json: %v\n%s", err, out)
	}
	if st.Running != "2.0.0" || st.Current != "2.0.0" || st.Staged != "" || len(st.Reports) != 1 || st.Reports[0].Outcome != "committed" {
		t.Errorf("update status: got %+v", st)
	}
	out, _, code = edgegw(t, "update", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "running          2.0.0\n") || !strings.Contains(out, "committed") {
		t.Errorf("update status: exit %d\n%s", code, out)
	}
}
