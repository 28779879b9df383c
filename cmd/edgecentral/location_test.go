package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"testing"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
)

// A real gateway (the edgegw binary: the sim driver with devices in two
// buildings, its rules and its uplink) uploads to edgecentral serve;
// `events --scope <compound>/<building>` returns that building's events
// only, each with its full path, and the compound's scope returns both.
func TestScopeBuildingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the edgegw binary")
	}
	dir := t.TempDir()
	edgegw := filepath.Join(dir, "edgegw")
	if out, err := exec.Command("go", "build", "-o", edgegw, "../edgegw").CombinedOutput(); err != nil {
		t.Fatalf("build edgegw: %v\n%s", err, out)
	}
	const place = "putuo/caoyang/c012/cp07"
	cdir := filepath.Join(dir, "central")
	out, stderr, code := run(t, context.Background(), "gateways", "add", "gw-cp07", "--place", place, "--data", cdir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: code %d, out %q, err %q", code, out, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var sout, serr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", cdir, "--log-level", "warn"},
			&cli.Env{Stdout: &sout, Stderr: &serr})
	}()
	var once gosync.Once
	stopServe := func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve: exit %d\n%s", code, serr.String())
			}
		})
	}
	t.Cleanup(stopServe)
	url := waitFor(t, "serve to listen", func() string {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sout.String()); m != nil {
			return m[1]
		}
		return ""
	})

	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`gateway: {id: gw-cp07, timezone: UTC}
store: {dir: %s, commit_wait: 2ms}
status: {listen: "off"}
inputs:
  - name: compound
    driver: sim
    options: {seed: 3, rate: 400, max_events: 300, compound: cp07, buildings: 2, units: 1, households: 2, observe_every: 1, door_open_every: 100ms}
rules:
  - name: observed-door-open
    match: {tags: [observe], points: [door]}
    when: event.text == "open"
    severity: critical
uplink: {url: %s, key: %s, max_age: 50ms, poll_interval: 200ms}
`, filepath.Join(dir, "gw"), url, m[1])), 0o644)
	gw := exec.Command(edgegw, "run", "--config", cfg)
	gwLog := &syncBuffer{}
	gw.Stdout, gw.Stderr = gwLog, gwLog
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { gw.Process.Kill(); gw.Wait() }()

	events := func(scope string) []receiver.StoredEvent {
		t.Helper()
		out, stderr, code := run(t, context.Background(), "events", "--url", url, "--scope", scope, "--json")
		if code != 0 {
			t.Fatalf("events --scope %s: exit %d: %s", scope, code, stderr)
		}
		var evs []receiver.StoredEvent
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var ev receiver.StoredEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("events --json: %q: %v", line, err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	// Both buildings' readings, states and alerts have arrived.
	waitFor(t, "events of both buildings, with an alert", func() string {
		b1, b2 := events(place+"/b1"), events(place+"/b2")
		kinds := map[string]bool{}
		for _, ev := range append(b1, b2...) {
			e, _ := ev.Decode()
			kinds[e.Kind] = true
		}
		if len(b1) > 20 && len(b2) > 20 && kinds["alert"] && kinds["state"] && kinds["reading"] {
			return "ok"
		}
		return ""
	})

	b1, b2 := events(place+"/b1"), events(place+"/b2")
	all := events(place) // after the buildings': it holds them, and what arrived since
	t.Logf("compound %d events, building b1 %d, b2 %d", len(all), len(b1), len(b2))
	for _, tc := range []struct {
		building string
		evs      []receiver.StoredEvent
	}{{"b1", b1}, {"b2", b2}} {
		for _, ev := range tc.evs {
			e, _ := ev.Decode()
			if ev.Building != tc.building || !strings.HasPrefix(ev.Path, place+"/"+tc.building) ||
				!strings.HasPrefix(e.Location, "cp07/"+tc.building) || ev.Gateway != "gw-cp07" {
				t.Errorf("events --scope .../%s: got %s %s event of %s: path %q building %q loc %q", tc.building,
					ev.Gateway, e.Kind, e.Device, ev.Path, ev.Building, e.Location)
			}
		}
	}
	// The compound's scope holds both (and more arrived since).
	if len(all) < len(b1)+len(b2) {
		t.Errorf("compound: %d events, buildings %d + %d", len(all), len(b1), len(b2))
	}
	// A household: its door only.
	for _, ev := range events(place + "/b2/u1/h102") {
		if e, _ := ev.Decode(); e.Device != "door-b2-u1-h2" || ev.Household != "h102" || ev.Unit != "u1" {
			t.Errorf("household b2/u1/h102: got %s event of %s at %s", e.Kind, e.Device, ev.Path)
		}
	}
	// The text form names the building, unit and household.
	out, _, _ = run(t, context.Background(), "events", "--url", url, "--scope", place+"/b2/u1")
	if !strings.Contains(out, "@b2/u1") {
		t.Errorf("events text: got %q, want lines with @b2/u1", out)
	}
	if _, stderr, code := run(t, context.Background(), "events", "--url", url, "--scope", place+"/b2/u1/h102/x"); code == 0 || !strings.Contains(stderr, "at most 7 levels") {
		t.Errorf("a scope of 8 levels: exit %d, %s", code, stderr)
	}
}
