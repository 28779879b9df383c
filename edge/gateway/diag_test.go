package gateway_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/status"
)

func unzip(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	return files
}

const diagRules = `  - name: sms-door
    match: {points: [door]}
    when: event.text == "open"
    actions:
      - {sms: ["+8613800000077"], via: sign, text: "door open"}
`

// The running gateway builds its own bundle for the central platform's
// send_diagnostics: status, metrics and logs from itself, the config and
// the last pushed config redacted, and a secret that reached the logs
// scrubbed there too.
func TestDiagnosticsOfRunningGateway(t *testing.T) {
	dir := t.TempDir()
	yamlText := fmt.Sprintf(baseConfig, dir, 20, diagRules)
	cfgPath := filepath.Join(dir, "edgegw.yaml")
	if err := os.WriteFile(cfgPath, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(cfgPath, []byte(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	ring := status.NewLogRing(100, slog.LevelInfo)
	logger := slog.New(ring.Wrap(slog.DiscardHandler))
	g, err := gateway.New(gateway.Options{Config: cfg, ConfigPath: cfgPath, Logger: logger, Logs: ring, Version: "9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitReady(t, g)
	logger.Info("sms sent", "to", "+8613800000077")

	data, err := g.Diagnostics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, data)
	for _, name := range []string{"MANIFEST.txt", "version.json", "config.yaml", "status.json", "metrics.txt", "logs.txt", "store.txt"} {
		if _, ok := files[name]; !ok {
			t.Errorf("bundle lacks %s", name)
		}
	}
	if !strings.Contains(files["status.json"], `"gateway_id": "gw-test"`) || !strings.Contains(files["metrics.txt"], "edgegw_devices ") {
		t.Errorf("status or metrics not from the gateway:\n%.300s\n%.300s", files["status.json"], files["metrics.txt"])
	}
	if !strings.Contains(files["logs.txt"], "gateway running") || !strings.Contains(files["logs.txt"], "sms sent") {
		t.Errorf("logs.txt:\n%s", files["logs.txt"])
	}
	for name, content := range files {
		if strings.Contains(content, "+8613800000077") {
			t.Errorf("%s holds the phone number:\n%s", name, content)
		}
	}
	if strings.Contains(files["MANIFEST.txt"], "missing:") {
		t.Errorf("nothing should be missing:\n%s", files["MANIFEST.txt"])
	}
}

// fakeSource is a DiagSource with logs as big as a test wants.
type fakeSource struct{ logs []string }

func (f fakeSource) Status(context.Context) (*status.Snapshot, []byte, error) {
	s := &status.Snapshot{GatewayID: "gw-big", Store: edge.StoreStats{Events: 7}}
	return s, []byte(`{"gateway_id": "gw-big"}`), nil
}
func (f fakeSource) Logs(context.Context) ([]string, error)  { return f.logs, nil }
func (f fakeSource) Metrics(context.Context) ([]byte, error) { return []byte("edgegw_up 1\n"), nil }

// A bundle stays within its limit: the oldest log lines go, and the
// manifest says so.
func TestDiagnosticsBounded(t *testing.T) {
	var lines []string
	for i := range 30_000 { // about 2.6 MiB of logs
		lines = append(lines, fmt.Sprintf("time=2026-03-02T02:00:00Z level=INFO msg=\"poll\" device=temp-%06d value=21.5", i))
	}
	const limit = 256 << 10
	b := gateway.CollectDiagnostics(context.Background(), gateway.DiagOptions{Source: fakeSource{lines}, Limit: limit, DataDir: t.TempDir()})
	total := 0
	for _, n := range b.Names() {
		total += len(b.File(n))
	}
	if total > limit {
		t.Errorf("bundle holds %d bytes, limit %d", total, limit)
	}
	logs := string(b.File("logs.txt"))
	if !strings.HasSuffix(logs, lines[len(lines)-1]+"\n") || strings.Contains(logs, lines[0]) {
		t.Errorf("logs.txt should keep the newest lines and drop the oldest (%d bytes)", len(logs))
	}
	if !strings.HasPrefix(logs, "time=") {
		t.Errorf("logs.txt starts in the middle of a line: %.80q", logs)
	}
	man := string(b.File("MANIFEST.txt"))
	if len(b.Truncated) != 1 || !strings.Contains(man, "truncated:\n  logs.txt: kept the last") {
		t.Errorf("truncated %q; manifest:\n%s", b.Truncated, man)
	}
	data, err := b.Zip()
	if err != nil || len(data) > limit {
		t.Errorf("zip: %d bytes, %v", len(data), err)
	}
}

// A gateway that does not answer still gets a bundle: the config and a
// listing of the data directory, and the manifest says why the rest is
// missing.
func TestDiagnosticsNotRunning(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "000001.vlog"), make([]byte, 1234), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "edgegw.yaml")
	if err := os.WriteFile(cfgPath, []byte("gateway: {id: gw-off}\nstore: {dir: "+dir+"}\nuplink: {key: some-secret-key-1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := gateway.CollectDiagnostics(context.Background(), gateway.DiagOptions{ConfigPath: cfgPath, NotRunning: errors.New("gateway not running (test)")})
	if st := string(b.File("store.txt")); !strings.Contains(st, "000001.vlog") || !strings.Contains(st, "1234") {
		t.Errorf("store.txt:\n%s", st)
	}
	if c := string(b.File("config.yaml")); strings.Contains(c, "some-secret-key-1") || !strings.Contains(c, "gw-off") {
		t.Errorf("config.yaml:\n%s", c)
	}
	if st := string(b.File("store.txt")); strings.Contains(st, "some-secret-key-1") {
		t.Errorf("store.txt leaks the key")
	}
	if m := string(b.File("MANIFEST.txt")); !strings.Contains(m, "status.json, logs.txt, metrics.txt: gateway not running (test)") {
		t.Errorf("manifest:\n%s", m)
	}
}
