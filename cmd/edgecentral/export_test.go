package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/export/webhook"
	"github.com/edgegw/edgegw/sync/wire"
)

// serve --export-webhook delivers across a restart of edgecentral, its
// counters are on /metrics, and export writes CSV and JSON lines.
func TestExportCLI(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, context.Background(), "gateways", "add", "gw1", "--place", "putuo/caoyang/c012/cp07", "--data", dir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: code %d, out %q, err %q", code, out, stderr)
	}
	key, _ := wire.ParseKey(m[1])

	secretFile := filepath.Join(dir, "webhook.secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	var mu gosync.Mutex
	seen := map[string]int{}
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte("s3cret"), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook: %v", err)
		}
		var b webhook.Body
		json.Unmarshal(body, &b)
		mu.Lock()
		for _, e := range b.Events {
			seen[e.Key]++
		}
		mu.Unlock()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hook.Serve(ln)
	defer hook.Close()
	delivered := func(n int) func() string {
		return func() string {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == n {
				return "ok"
			}
			return ""
		}
	}

	serve := func() (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var sout, serr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- app.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "warn",
				"--export-webhook", "http://" + ln.Addr().String() + "/hook", "--export-webhook-secret-file", secretFile,
				"--export-scope", "putuo/caoyang"}, &cli.Env{Stdout: &sout, Stderr: &serr})
		}()
		url := waitFor(t, "serve to listen", func() string {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sout.String()); m != nil {
				return m[1]
			}
			return ""
		})
		var once gosync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("serve: exit %d\n%s", code, serr.String())
				}
			})
		}
		t.Cleanup(stop) // also when the test fails half-way
		return url, stop
	}
	url, stop := serve()
	postBatch(t, url, "gw1", key, sampleEvents(1))
	waitFor(t, "the webhook", delivered(3))
	// The counters move once the answer is back, after the endpoint saw the keys.
	for _, want := range []string{`edgecentral_export_delivered_events_total{exporter="export-webhook"} 3`,
		`edgecentral_export_dead_letters_total{exporter="export-webhook"} 0`,
		`edgecentral_consumer_pending_messages{consumer="export-webhook"} 0`} {
		waitFor(t, "/metrics: "+want, func() string {
			resp, err := http.Get(url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(metrics), want) {
				return "ok"
			}
			return ""
		})
	}

	out, stderr, code = run(t, context.Background(), "export", "--url", url, "--scope", "putuo/caoyang", "--since", "1h", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "key,gateway,path,") ||
		!strings.HasPrefix(lines[1], "gw1/11/1,gw1,putuo/caoyang/c012/cp07,11,1,") || !strings.Contains(lines[3], "door-open/door-101/12") {
		t.Fatalf("export csv: code %d\n%s\n%s", code, out, stderr)
	}
	file := filepath.Join(dir, "out.jsonl")
	if _, stderr, code = run(t, context.Background(), "export", "--url", url, "--scope", "putuo/other", "--format", "jsonl", "--out", file); code != 0 {
		t.Fatalf("export jsonl: %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(file); len(b) != 0 {
		t.Errorf("another scope: got %s", b)
	}
	if _, stderr, code = run(t, context.Background(), "export", "--url", url, "--format", "jsonl", "--out", file); code != 0 {
		t.Fatalf("export jsonl: %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(file); strings.Count(string(b), "\n") != 3 || !strings.Contains(string(b), `"path":"putuo/caoyang/c012/cp07"`) {
		t.Errorf("export jsonl: got %s", b)
	}
	if _, _, code = run(t, context.Background(), "export", "--url", url, "--format", "xml"); code != 64 {
		t.Errorf("--format xml: exit %d, want 64", code)
	}

	// edgecentral restarts: the consumer goes on where it was.
	stop()
	url, stop = serve()
	defer stop()
	postBatch(t, url, "gw1", key, sampleEvents(4))
	waitFor(t, "the webhook after the restart", delivered(6))
}
