package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/password"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/edge/status/statustest"
	"github.com/edgegw/edgegw/internal/cli"
)

// statusServer runs the real status server with a fake gateway behind it.
func statusServer(t *testing.T, cfg config.Status) (*statustest.Fake, string) {
	t.Helper()
	fake := statustest.New(time.Now())
	s, err := status.New(status.Options{Config: cfg, Provider: fake, Version: "test", Logs: status.NewLogRing(5, nil)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin)})
	return code, out.String(), errb.String()
}

func TestStatusExitCodes(t *testing.T) {
	fake, url := statusServer(t, config.Status{Listen: "127.0.0.1:0"})
	now := time.Now()
	healthy := fake.Snap
	// The fake's critical alert, acknowledged: listed, not counted.
	healthy.Alerts = append([]status.Alert(nil), healthy.Alerts...)
	healthy.Alerts[0].State = edge.AlertAcknowledged

	cases := []struct {
		name string
		edit func(s *status.Snapshot)
		args []string
		want int
		text string
	}{
		{"healthy", func(s *status.Snapshot) {}, nil, 0, "health: OK"},
		{"device offline", func(s *status.Snapshot) {
			s.Devices[1].Online, s.Devices[1].Reason, s.Devices[1].Since = false, "no answer", now.Add(-5*time.Minute)
		}, nil, status.ExitDegraded, "device temp-b3 offline for 5m0s (no answer)"},
		{"backlog old", func(s *status.Snapshot) {
			s.Sync.OldestUnsynced, s.Sync.Reachable = now.Add(-20*time.Minute), false
		}, nil, status.ExitDegraded, "oldest unsynced 20m0s old (limit 15m0s)"},
		{"backlog old but limit raised", func(s *status.Snapshot) {
			s.Sync.OldestUnsynced = now.Add(-20 * time.Minute)
		}, []string{"--max-backlog-age", "30m"}, 0, "health: OK"},
		{"store near cap", func(s *status.Snapshot) {
			s.Store.Bytes = s.Store.CapBytes * 95 / 100
		}, nil, status.ExitDegraded, "store at 95.0% of its cap (limit 90%)"},
		{"store limit lowered", func(s *status.Snapshot) {}, []string{"--max-store-pct", "20"}, status.ExitDegraded, "store at 25.0%"},
		{"not ready", func(s *status.Snapshot) { s.Ready = false }, nil, status.ExitDegraded, "not ready"},
		{"offline and store: both listed", func(s *status.Snapshot) {
			s.Devices[0].Online = false
			s.Store.Bytes = s.Store.CapBytes
		}, nil, status.ExitDegraded, "store at 100.0%"},
		{"acknowledged critical alert: listed, healthy", func(s *status.Snapshot) {}, nil, 0,
			"health: OK\n  -  alert critical acknowledged: door open at c1/b3/u2/h101"},
		{"critical alert firing", func(s *status.Snapshot) {
			s.Alerts = []status.Alert{healthy.Alerts[0]}
			s.Alerts[0].State = edge.AlertFiring
		}, nil, status.ExitCritical, "health: CRITICAL (1)\n  !! alert critical firing: door open"},
		{"critical alert and a device offline: critical first", func(s *status.Snapshot) {
			s.Devices[1].Online = false
			s.Alerts = []status.Alert{healthy.Alerts[0], healthy.Alerts[0]}
			s.Alerts[1].State, s.Alerts[1].Message = edge.AlertFiring, "fire alarm in building 3"
		}, nil, status.ExitCritical, "health: CRITICAL (2)\n  !! alert critical firing: fire alarm in building 3"},
		{"warning alert firing: listed, healthy", func(s *status.Snapshot) {
			s.Alerts = []status.Alert{healthy.Alerts[0]}
			s.Alerts[0].State, s.Alerts[0].Severity = edge.AlertFiring, "warning"
		}, nil, 0, "alert warning firing"},
		{"central unreachable for 5 minutes", func(s *status.Snapshot) {
			s.Sync.State, s.Sync.StateSince, s.Sync.LastError = edge.SyncUnreachable, now.Add(-5*time.Minute), "dial tcp: connection refused"
		}, nil, status.ExitDegraded, "central unreachable for 5m0s: dial tcp: connection refused; 12 events kept for it"},
		{"central unreachable for 30 s: not yet", func(s *status.Snapshot) {
			s.Sync.State, s.Sync.StateSince = edge.SyncUnreachable, now.Add(-30*time.Second)
		}, nil, 0, "health: OK"},
		{"central stalled", func(s *status.Snapshot) {
			s.Sync.State, s.Sync.StateSince = edge.SyncStalled, now.Add(-10*time.Minute)
		}, nil, status.ExitDegraded, "central stalled (answers, backlog not moving) for 10m0s"},
		{"clock not trusted: listed, healthy", func(s *status.Snapshot) { s.Clock.Trusted = false }, nil, 0, "clock not trusted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.Edit(func(s *status.Snapshot) {
				*s = healthy
				s.Devices = append([]status.Device(nil), healthy.Devices...)
				s.Now = now
				tc.edit(s)
			})
			code, out, errOut := runCLI(t, "", append([]string{"status", "--url", url}, tc.args...)...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			if !strings.Contains(out, tc.text) {
				t.Fatalf("output lacks %q:\n%s", tc.text, out)
			}
			code, out, _ = runCLI(t, "", append([]string{"status", "--json", "--url", url}, tc.args...)...)
			if code != tc.want {
				t.Fatalf("--json exit %d, want %d", code, tc.want)
			}
			var v struct {
				Healthy  bool            `json:"healthy"`
				ExitCode int             `json:"exit_code"`
				Problems []string        `json:"problems"`
				Status   status.Snapshot `json:"status"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("--json output: %v\n%s", err, out)
			}
			if v.Healthy != (tc.want == 0) || v.ExitCode != tc.want || v.Status.GatewayID != "gw-test-1" || len(v.Status.Devices) != 3 {
				t.Fatalf("--json: %+v", v)
			}
		})
	}
}

func TestStatusNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	code, _, errOut := runCLI(t, "", "status", "--url", "http://"+addr)
	if code != status.ExitNotRunning {
		t.Fatalf("exit %d, want %d (%s)", code, status.ExitNotRunning, errOut)
	}
	if !strings.Contains(errOut, "not running") {
		t.Fatalf("stderr: %s", errOut)
	}
	// The address can come from the config file's status.listen.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte("gateway: {id: x}\nstatus:\n  listen: "+addr+"\n"), 0o644)
	code, out, _ := runCLI(t, "", "status", "--json", "--config", cfg)
	if code != status.ExitNotRunning || !strings.Contains(out, `"exit_code": 3`) {
		t.Fatalf("via config: exit %d, out %s", code, out)
	}
}

func TestStatusWithPassword(t *testing.T) {
	h, _ := password.NewWithIterations("technician-pw", password.MinIterations)
	_, url := statusServer(t, config.Status{Listen: "127.0.0.1:0", PasswordHash: h})
	code, _, errOut := runCLI(t, "", "status", "--url", url)
	if code != 1 || !strings.Contains(errOut, "password") {
		t.Fatalf("without password: exit %d, stderr %s", code, errOut)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("technician-pw\n"), 0o600)
	if code, out, errOut := runCLI(t, "", "status", "--url", url, "--password-file", pwFile); code == 1 || !strings.Contains(out, "gateway gw-test-1") {
		t.Fatalf("with password: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestHashPassword(t *testing.T) {
	code, out, errOut := runCLI(t, "a good password\n", "status", "hash-password", "--iterations", "10000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "pbkdf2-sha256$10000$") {
		t.Fatalf("output %q", out)
	}
	h, err := password.Parse(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if !h.Verify("a good password") || h.Verify("a good password\n") {
		t.Fatal("hash does not verify the password read from stdin")
	}
	if code, _, _ := runCLI(t, "short\n", "status", "hash-password", "--iterations", "10000"); code == 0 {
		t.Fatal("accepted a 5-character password")
	}
	// The hash is accepted by the config.
	c := config.Status{Listen: "0.0.0.0:8780", PasswordHash: strings.TrimSpace(out)}
	c.SetDefaults()
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("config refuses the hash: %v", errs)
	}
}
