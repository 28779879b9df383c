package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/wire"
)

// TestMain lets the tests run this binary as edgecentral in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("EDGECENTRAL_TEST_MAIN") == "1" {
		main()
		return
	}
	code := m.Run()
	removeBuilt()
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb syncBuffer
	code := app.Main(ctx, args, &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	return out.String(), errb.String(), code
}

var keyRe = regexp.MustCompile(`key: ([0-9a-f]{64})`)

// waitFor polls f until it returns a non-empty string.
func waitFor(t *testing.T, what string, f func() string) string {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := f(); s != "" {
			return s
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
			return ""
		case <-tick.C:
		}
	}
}

func postBatch(t *testing.T, url, gw string, key wire.Key, events []wire.Event) wire.BatchResponse {
	t.Helper()
	body, err := wire.GzipBatch(events)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url+wire.PathBatches, bytes.NewReader(body))
	req.Header.Set("Content-Encoding", "gzip")
	wire.SignRequest(req, gw, key, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadVerifiedResponse(resp, key, 0)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post batch: %d %s %v", resp.StatusCode, b, err)
	}
	var br wire.BatchResponse
	json.Unmarshal(b, &br)
	return br
}

func sampleEvents(from uint64) []wire.Event {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return []wire.Event{
		{Epoch: 11, Seq: from, Time: now, ClockTrusted: true, Kind: wire.KindReading, Device: "b1-temp", Point: "temperature", Value: 21.5, Unit: "°C"},
		{Epoch: 11, Seq: from + 1, Time: now, Kind: wire.KindState, Device: "door-101", Point: "contact", Text: "open", Value: 1},
		{Epoch: 11, Seq: from + 2, Time: now, ClockTrusted: true, Kind: wire.KindAlert, Device: "door-101",
			Alert: &wire.Alert{ID: "door-open/door-101/12", Rule: "door-open", State: wire.AlertFiring, Severity: "high", Message: "door open"}},
	}
}

func TestCLIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, context.Background(), "gateways", "add", "gw1", "--data", dir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: code %d, out %q, err %q", code, out, stderr)
	}
	key, err := wire.ParseKey(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, code := run(t, context.Background(), "gateways", "add", "gw1", "--data", dir); code != 1 {
		t.Errorf("adding gw1 twice: exit %d, want 1", code)
	}
	if _, _, code := run(t, context.Background(), "gateways", "add", "bad id!", "--data", dir); code != 64 {
		t.Errorf("bad id: exit %d, want 64", code)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var serveOut, serveErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "warn"},
			&cli.Env{Stdout: &serveOut, Stderr: &serveErr})
	}()
	url := waitFor(t, "serve to listen", func() string {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(serveOut.String()); m != nil {
			return m[1]
		}
		return ""
	})

	if br := postBatch(t, url, "gw1", key, sampleEvents(1)); br.Stored != 3 {
		t.Fatalf("got %+v", br)
	}
	out, stderr, code = run(t, context.Background(), "tail", "--url", url, "--from-start", "--follow=false")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "gw1 11/1") || !strings.Contains(lines[0], "21.5 °C") ||
		!strings.Contains(lines[1], "open (1)") || !strings.Contains(lines[1], "Z?") || !strings.Contains(lines[2], "door-open/door-101/12 firing") {
		t.Fatalf("tail: code %d\n%s\n%s", code, out, stderr)
	}

	// A following tail sees only new events.
	tctx, tcancel := context.WithCancel(context.Background())
	var tailOut, tailErr syncBuffer
	tailDone := make(chan int, 1)
	go func() {
		tailDone <- app.Main(tctx, []string{"tail", "--url", url, "--gateway", "gw1", "--interval", "50ms"}, &cli.Env{Stdout: &tailOut, Stderr: &tailErr})
	}()
	waitFor(t, "tail to find the end", func() string {
		if strings.Contains(tailErr.String(), "following events after cursor ") { // a JetStream cursor: stream sequence<<16 | index
			return "ok"
		}
		return ""
	})
	postBatch(t, url, "gw1", key, sampleEvents(4))
	waitFor(t, "tail to print new events", func() string {
		if strings.Count(tailOut.String(), "\n") >= 3 {
			return "ok"
		}
		return ""
	})
	tcancel()
	if c := <-tailDone; c != 0 {
		t.Errorf("tail exit %d", c)
	}
	if got := tailOut.String(); strings.Contains(got, "11/1 ") || !strings.Contains(got, "11/4 ") {
		t.Errorf("following tail printed:\n%s", got)
	}

	cfg := dir + "-c.yaml"
	os.WriteFile(cfg, []byte("gateway:\n  id: gw1\n"), 0o644)
	if out, stderr, code := run(t, context.Background(), "config", "push", "--gateway", "gw1", cfg, "--url", url); code != 0 || !strings.Contains(out, "config version 1") {
		t.Errorf("config push: %d %s %s", code, out, stderr)
	}
	if out, stderr, code := run(t, context.Background(), "command", "--gateway", "gw1", "--type", "pulse_output", "--arg", "output=siren", "--arg", "duration=5s", "--url", url); code != 0 || !strings.Contains(out, "command 1 (pulse_output duration=5s,output=siren)") {
		t.Errorf("command: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := run(t, context.Background(), "command", "--gateway", "nope", "--type", "pulse_output", "--url", url); code != 1 || !strings.Contains(stderr, "unknown gateway") {
		t.Errorf("command to unknown gateway: %d %s", code, stderr)
	}
	// The gateway sees the command, signed.
	req, _ := http.NewRequest("GET", url+wire.PathCommands+"?after=0", nil)
	wire.SignRequest(req, "gw1", key, nil, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadVerifiedResponse(resp, key, 0)
	var list wire.CommandList
	json.Unmarshal(b, &list)
	if err != nil || len(list.Commands) != 1 || list.Commands[0].Args["output"] != "siren" {
		t.Fatalf("gateway commands: %v %s", err, b)
	}

	out, _, code = run(t, context.Background(), "gateways", "list", "--url", url)
	if code != 0 || !regexp.MustCompile(`gw1\s+6\s`).MatchString(out) {
		t.Errorf("gateways list:\n%s", out)
	}

	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Errorf("serve exit %d: %s", c, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	// The store is closed and consistent: list it directly.
	out, _, code = run(t, context.Background(), "gateways", "list", "--data", dir)
	if code != 0 || !regexp.MustCompile(`gw1\s+6\s`).MatchString(out) {
		t.Errorf("gateways list --data after shutdown:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--data", t.TempDir(), "extra"},
		{"serve", "--nats-sync", "sometimes"},
		{"gateways", "add"},
		{"config", "push", "--gateway", "gw1"},
		{"command", "--type", "pulse_output"},
		{"command", "--gateway", "g", "--type", "x", "--arg", "novalue"},
	} {
		if _, stderr, code := run(t, context.Background(), args...); code != 64 {
			t.Errorf("%v: exit %d (%s), want 64", args, code, stderr)
		}
	}
}

// TestDiagnosticsCLI: request, list and get a diagnostics bundle through
// the CLI, with the gateway's upload in between.
func TestDiagnosticsCLI(t *testing.T) {
	dir := t.TempDir()
	out, _, code := run(t, context.Background(), "gateways", "add", "gw1", "--data", dir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: %d %s", code, out)
	}
	key, _ := wire.ParseKey(m[1])
	url := serveInProcess(t, dir)
	if out, stderr, code := run(t, context.Background(), "diagnostics", "get", "gw1", "--url", url); code != 1 || !strings.Contains(stderr, "no diagnostics bundle") {
		t.Errorf("get before any: %d %s %s", code, out, stderr)
	}
	out, stderr, code := run(t, context.Background(), "diagnostics", "request", "gw1", "--url", url)
	if code != 0 || !strings.Contains(out, "command 1") {
		t.Fatalf("request: %d %s %s", code, out, stderr)
	}
	if out, _, _ := run(t, context.Background(), "diagnostics", "list", "gw1", "--url", url); !strings.Contains(out, "pending") {
		t.Errorf("list while pending:\n%s", out)
	}
	// The gateway answers with its bundle.
	zip := []byte("PK\x03\x04 a diagnostics bundle")
	res, _ := json.Marshal(wire.CommandResult{OK: true, Attachment: zip})
	req, _ := http.NewRequest("POST", url+wire.CommandResultPath(1), bytes.NewReader(res))
	wire.SignRequest(req, "gw1", key, res, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post result: %v %v", resp, err)
	}
	resp.Body.Close()
	if out, _, _ := run(t, context.Background(), "diagnostics", "list", "gw1", "--url", url); !strings.Contains(out, fmt.Sprintf("%d bytes", len(zip))) {
		t.Errorf("list after the upload:\n%s", out)
	}
	file := dir + "-diag.zip"
	if out, stderr, code := run(t, context.Background(), "diagnostics", "get", "gw1", "--url", url, "--out", file); code != 0 {
		t.Fatalf("get: %d %s %s", code, out, stderr)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, zip) {
		t.Errorf("bundle: got %q, want %q", got, zip)
	}
	if _, stderr, code := run(t, context.Background(), "diagnostics", "get", "gw1", "--command", "9", "--url", url); code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("get an unknown command: %d %s", code, stderr)
	}
}

// serveInProcess runs `edgecentral serve` on dir (port 0, in this process)
// until the end of the test and returns its URL.
func serveInProcess(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var serveOut, serveErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "warn"},
			&cli.Env{Stdout: &serveOut, Stderr: &serveErr})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return waitFor(t, "serve to listen", func() string {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(serveOut.String()); m != nil {
			return m[1]
		}
		return ""
	})
}
