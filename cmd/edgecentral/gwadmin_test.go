package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// tryBatch posts events as gw with key and returns the status and error.
func tryBatch(t *testing.T, url, gw string, key wire.Key, events []wire.Event) (int, wire.ErrorResponse) {
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
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var er wire.ErrorResponse
	json.Unmarshal(b, &er)
	return resp.StatusCode, er
}

// The gateway commands against a running serve (embedded JetStream):
// move then upload stores under the new path (the old events keep
// theirs); rekey refuses the old key (401) and takes the new; disable
// refuses (403), enable takes again; and on the stopped data directory.
func TestGatewayAdminCLI(t *testing.T) {
	for _, store := range []string{"jetstream", "badger"} {
		t.Run(store, func(t *testing.T) { testGatewayAdminCLI(t, store) })
	}
}

func testGatewayAdminCLI(t *testing.T, store string) {
	dir := t.TempDir()
	const cp07, cp08 = "putuo/caoyang/c012/cp07", "putuo/caoyang/c012/cp08"
	if store == "badger" { // a Badger data directory, as an older edgecentral made: serve keeps it
		b, err := receiver.OpenBadger(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	out, stderr, code := run(t, context.Background(), "gateways", "add", "gw1", "--place", cp07, "--data", dir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: code %d, out %q, err %q", code, out, stderr)
	}
	key, _ := wire.ParseKey(m[1])

	ctx, cancel := context.WithCancel(context.Background())
	var serveOut, serveErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--store", store, "--log-level", "warn"},
			&cli.Env{Stdout: &serveOut, Stderr: &serveErr})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if c := <-done; c != 0 {
				t.Errorf("serve exit %d: %s", c, serveErr.String())
			}
		}
	}
	defer stop()
	url := waitFor(t, "serve to listen", func() string {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(serveOut.String()); m != nil {
			return m[1]
		}
		return ""
	})
	cmd := func(want int, args ...string) string {
		t.Helper()
		out, stderr, code := run(t, context.Background(), append(args, "--url", url)...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, stderr)
		}
		return out + stderr
	}
	post := func(k wire.Key, from uint64, want int, wantCode string) {
		t.Helper()
		status, er := tryBatch(t, url, "gw1", k, sampleEvents(from))
		if status != want || er.Code != wantCode {
			t.Fatalf("batch from %d: got %d %+v, want %d %q", from, status, er, want, wantCode)
		}
		if wantCode == wire.CodeForbidden && !strings.Contains(er.Error, "disabled") {
			t.Errorf("403 %q: want it to say the gateway is disabled", er.Error)
		}
	}

	post(key, 1, 200, "")
	if out := cmd(0, "gateways", "move", "gw1", "--place", cp08); !strings.Contains(out, "moved to "+cp08) {
		t.Errorf("move said %q", out)
	}
	post(key, 4, 200, "")
	resp, err := http.Get(url + "/v1/admin/events?gateway=gw1")
	if err != nil {
		t.Fatal(err)
	}
	var page receiver.EventsPage
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	var paths []string
	for _, e := range page.Events {
		paths = append(paths, e.Path)
	}
	if got, want := strings.Join(paths, " "), strings.Repeat(cp07+" ", 3)+strings.TrimSpace(strings.Repeat(cp08+" ", 3)); got != want {
		t.Errorf("paths: got %s, want %s", got, want)
	}
	if store == "badger" {
		// scopes need the JetStream store
	} else if out := cmd(0, "events", "--scope", cp08, "--json"); strings.Count(out, `"gateway":"gw1"`) != 3 {
		t.Errorf("events --scope %s: want the 3 events stored after the move:\n%s", cp08, out)
	}

	m = keyRe.FindStringSubmatch(cmd(0, "gateways", "rekey", "gw1"))
	if m == nil {
		t.Fatal("rekey printed no key")
	}
	newKey, _ := wire.ParseKey(m[1])
	post(key, 7, 401, wire.CodeUnauthorized)
	post(newKey, 7, 200, "")

	cmd(0, "gateways", "disable", "gw1")
	post(newKey, 10, 403, wire.CodeForbidden)
	if out := cmd(0, "gateways", "list"); !regexp.MustCompile(cp08 + `\s+disabled`).MatchString(out) {
		t.Errorf("list after disable:\n%s", out)
	}
	cmd(0, "gateways", "enable", "gw1")
	post(newKey, 10, 200, "")
	if out := cmd(0, "gateways", "list"); !regexp.MustCompile(`gw1\s+12\s.*` + cp08 + `\s+enabled`).MatchString(out) {
		t.Errorf("list after enable:\n%s", out)
	}

	if out := cmd(64, "gateways", "move", "gw1", "--place", "Putuo/X"); !strings.Contains(out, "street") && !strings.Contains(out, "district") {
		t.Errorf("bad place: %s", out)
	}
	cmd(64, "gateways", "move", "gw1")
	cmd(64, "gateways", "rekey", "bad id")
	if out := cmd(1, "gateways", "disable", "nope"); !strings.Contains(out, "unknown gateway") || !strings.Contains(out, "404") {
		t.Errorf("disable unknown: %s", out)
	}

	stop()
	// The data directory with the server stopped.
	out, stderr, code = run(t, context.Background(), "gateways", "move", "gw1", "--district", "putuo", "--street", "caoyang", "--committee", "c012", "--compound", "cp09", "--data", dir)
	if code != 0 {
		t.Fatalf("move --data: %d %s %s", code, out, stderr)
	}
	out, stderr, code = run(t, context.Background(), "gateways", "disable", "gw1", "--data", dir)
	if code != 0 {
		t.Fatalf("disable --data: %d %s %s", code, out, stderr)
	}
	out, _, _ = run(t, context.Background(), "gateways", "list", "--data", dir)
	if !regexp.MustCompile(`gw1\s+12\s.*putuo/caoyang/c012/cp09\s+disabled`).MatchString(out) {
		t.Errorf("list --data:\n%s", out)
	}
}
