//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/internal/ptytest"
)

type apiStatus struct {
	Alerts []struct {
		Rule   string `json:"rule"`
		Device string `json:"device"`
	} `json:"alerts"`
	Announcements []struct {
		Device string `json:"device"`
		Note   string `json:"note"`
		By     string `json:"by"`
	} `json:"announcements"`
}

func getStatus(t *testing.T, addr string) apiStatus {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s apiStatus
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return s
}

// waitStatus polls the gateway's status API until cond holds.
func waitStatus(t *testing.T, addr, what string, cond func(apiStatus) bool) apiStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := getStatus(t, addr)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %s: %+v", what, s)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// TestAnnounceProcess runs the gateway as a real process with an rf433
// decoder board on a pty and two rules (one honours announcements), then
// `edgegw announce` through its status API: the announced door's opening
// raises only the rule without announced(); the announcement survives a
// SIGKILL and a restart; an unknown device is refused.
func TestAnnounceProcess(t *testing.T) {
	pty := ptytest.New(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
gateway: {id: gw-announce}
store: {dir: %q, cap: 64MiB}
status: {listen: %q}
inputs:
  - name: rf433
    driver: rf433
    options:
      port: %q
      devices:
        - {id: door-1201, tags: [observe], address: 5A3C1, keys: {"E": open, "7": close}}
rules:
  - name: observed-door-opened
    match: {tags: [observe], points: [door]}
    when: event.text == "open" && !announced(event.device)
    severity: critical
    message: "door opened"
  - name: door-log
    match: {tags: [observe], points: [door]}
    when: event.text == "open"
    severity: info
    message: "door opened (log)"
`, filepath.Join(dir, "data"), addr, pty.Path())), 0o644)
	lockDir := t.TempDir()
	run := func() (*exec.Cmd, *procLog) {
		cmd := exec.Command(edgegwBin, "run", "--config", cfgFile)
		cmd.Env = append(os.Environ(), serialport.LockDirEnv+"="+lockDir)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		e := watchLog(stderr)
		e.waitFor(t, 20*time.Second, "status server listening", "gateway running", "rf433 receiver open")
		return cmd, e
	}
	cmd, _ := run()

	out, errOut, code := edgegw(t, "announce", "door-1201", "--config", cfgFile, "--for", "2h", "--note", "doctor's visit")
	if code != 0 || !strings.Contains(out, "announced for 2h0m0s") {
		t.Fatalf("announce: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := edgegw(t, "announce", "door-9999", "--config", cfgFile, "--for", "2h"); code != 1 || !strings.Contains(errOut, "door-9999") {
		t.Fatalf("unknown device: exit %d, %s", code, errOut)
	}
	if _, _, code := edgegw(t, "announce", "door-1201", "--config", cfgFile); code != 64 {
		t.Fatalf("no window: exit %d, want 64", code)
	}
	s := getStatus(t, addr)
	if len(s.Announcements) != 1 || s.Announcements[0].Note != "doctor's visit" || !strings.HasPrefix(s.Announcements[0].By, "local:cli") {
		t.Fatalf("announcements %+v", s.Announcements)
	}

	// Restart hard inside the window: the announcement is still there.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	pty.Replug() // the killed process left the tty in exclusive mode
	run()
	waitStatus(t, addr, "announcement after restart", func(s apiStatus) bool { return len(s.Announcements) == 1 })

	frame := []byte{0xFD, 0x5A, 0x3C, 0x1E, 0x2C, 0xDF}
	var b []byte
	for i := 0; i < 4; i++ {
		b = append(b, frame...)
	}
	if _, err := pty.Write(b); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, addr, "door-log alert", func(s apiStatus) bool { return len(s.Alerts) > 0 })
	for _, a := range s.Alerts {
		if a.Rule != "door-log" {
			t.Fatalf("alert %+v inside the announced window", a)
		}
	}
}
