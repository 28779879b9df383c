package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// TestTail reads a running gateway's log: every event from the start, in
// seq order, as JSON and as lines; a bad page size is a usage error.
func TestTail(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("gateway: {id: gw-tail}\nstore: {dir: %q, cap: 64MiB}\nstatus: {listen: %q}\ninputs: [{name: c, driver: sim, options: {rate: 200}}]\n",
		filepath.Join(dir, "data"), addr)), 0o644)
	gw := exec.Command(edgegwBin, "run", "--config", cfg)
	stderr, _ := gw.StderrPipe()
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })
	watchLog(stderr).waitFor(t, 30*time.Second, "status server listening", "gateway running")
	var out string
	poll(t, 20*time.Second, "at least 20 events in the log", func() bool {
		o, e, code := edgegw(t, "tail", "--config", cfg, "--from-start", "--follow=false", "--json")
		if code != 0 {
			t.Fatalf("tail: exit %d: %s", code, e)
		}
		out = o
		return strings.Count(o, "\n") >= 20
	})
	var last uint64
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev edge.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		if ev.Seq <= last || ev.Epoch == 0 {
			t.Fatalf("line %d: seq %d after %d (epoch %d)", i+1, ev.Seq, last, ev.Epoch)
		}
		last = ev.Seq
	}
	o, _, code := edgegw(t, "tail", "--url", "http://"+addr, "--from-start", "--follow=false")
	if code != 0 || !strings.HasPrefix(o, "1 ") || !strings.Contains(o, " status ") {
		t.Fatalf("tail lines: exit %d:\n%.500s", code, o)
	}
	if _, _, code := edgegw(t, "tail", "--url", "http://"+freeAddr(t), "--follow=false"); code != 3 {
		t.Errorf("tail of no gateway: exit %d, want 3", code)
	}
}
