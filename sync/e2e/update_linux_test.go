//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// updateBins are the real binaries of the fleet update test: the central,
// three gateway releases (1.0.0 is the installed one, the loader) and a
// release that exits at start.
type updateBins struct {
	central, v100, v110, crash string
}

func buildUpdateBins(t *testing.T) updateBins {
	t.Helper()
	dir := t.TempDir()
	b := updateBins{
		central: filepath.Join(dir, "edgecentral"),
		v100:    filepath.Join(dir, "edgegw-1.0.0"),
		v110:    filepath.Join(dir, "edgegw-1.1.0"),
		crash:   filepath.Join(dir, "edgegw-1.2.0"),
	}
	stamp := func(v string) string {
		return "-ldflags=-X github.com/edgegw/edgegw/internal/version.Version=" + v
	}
	for _, c := range [][]string{
		{"build", "-o", b.central, "../../cmd/edgecentral"},
		{"build", stamp("1.0.0"), "-o", b.v100, "../../cmd/edgegw"},
		{"build", stamp("1.1.0"), "-o", b.v110, "../../cmd/edgegw"},
		{"build", "-o", b.crash, "./internal/crashgw"},
	} {
		if out, err := exec.Command("go", c...).CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return b
}

// run runs a command to its end and returns its output and exit code.
func runCmd(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: still running after 2m\n%s", filepath.Base(bin), strings.Join(args, " "), out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func mustRun(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	out, code := runCmd(t, env, bin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", filepath.Base(bin), strings.Join(args, " "), code, out)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gwUpdate is the update part of gw1's last heartbeat, read from the
// central's admin API.
func gwUpdate(t *testing.T, addr string) (wire.UpdateStatus, uint64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/admin/gateways")
	if err != nil {
		return wire.UpdateStatus{}, 0
	}
	defer resp.Body.Close()
	var page struct {
		Gateways []receiver.GatewayStatus `json:"gateways"`
	}
	if json.NewDecoder(resp.Body).Decode(&page) != nil {
		return wire.UpdateStatus{}, 0
	}
	for _, g := range page.Gateways {
		if g.ID == "gw1" && g.LastHeartbeat != nil && g.LastHeartbeat.Update != nil {
			return *g.LastHeartbeat.Update, g.Events
		}
	}
	return wire.UpdateStatus{}, 0
}

// TestFleetUpdateAndRollback is issue #16 end to end with real processes:
// releases signed offline, pushed to a real edgecentral and rolled out to a
// gateway that runs under its loader (`edgegw service run`). 1.1.0 must
// prove itself and commit; 1.2.0 exits at start, so after three attempts
// the loader runs 1.1.0 again, marks 1.2.0 broken, and the central gets
// the report with the log tail and halts the rollout. The store carries
// across every switch: the central holds each event the gateway accepted,
// exactly once.
func TestFleetUpdateAndRollback(t *testing.T) {
	// Not parallel: it builds four binaries and runs five processes, and
	// the timing-sensitive tests of this package (the alert lane ahead of
	// an outage's backlog) run after it, not beside it.
	b := buildUpdateBins(t)
	dir := t.TempDir()
	plat := []string{"--os", runtime.GOOS, "--arch", runtime.GOARCH}

	// Keys and signatures, offline.
	keys := filepath.Join(dir, "keys")
	mustRun(t, nil, b.central, "release", "keygen", "--out", keys)
	pub, err := os.ReadFile(filepath.Join(keys, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	m110, m120 := filepath.Join(dir, "1.1.0.manifest"), filepath.Join(dir, "1.2.0.manifest")
	mustRun(t, nil, b.central, append([]string{"release", "sign", b.v110, "--key", filepath.Join(keys, "release.key"), "--version", "1.1.0", "--out", m110}, plat...)...)
	mustRun(t, nil, b.central, append([]string{"release", "sign", b.crash, "--key", filepath.Join(keys, "release.key"), "--version", "1.2.0", "--out", m120}, plat...)...)
	pubFile := filepath.Join(keys, "release.pub")
	if out := mustRun(t, nil, b.v100, "update", "verify", m110, b.v110, "--pubkey", pubFile); !strings.Contains(out, "ok") {
		t.Errorf("update verify of a good pair: %s", out)
	}
	if out, code := runCmd(t, nil, b.v100, "update", "verify", m110, b.crash, "--pubkey", pubFile); code == 0 || !strings.Contains(strings.ToLower(out), "size") && !strings.Contains(strings.ToLower(out), "hash") {
		t.Errorf("update verify of a swapped artifact: exit %d, %s", code, out)
	}

	// The central, and gw1 registered with it.
	addr := freeAddr(t)
	url := "http://" + addr
	cen := startProc(t, "edgecentral", filepath.Join(dir, "central.log"), nil, b.central, "serve", "--listen", addr, "--data", filepath.Join(dir, "central"))
	waitFor(t, 30*time.Second, "edgecentral listening", func() bool {
		if cen.exited() {
			t.Fatalf("edgecentral exited: %v\n%s", cen.err, cen.logTail())
		}
		return ready(addr)
	})
	adm := []string{"EDGECENTRAL_URL=" + url}
	key := strings.TrimSpace(mustRun(t, adm, b.central, "gateways", "add", "gw1", "--place", "putuo/caoyang/c012/cp07"))
	if i := strings.LastIndexAny(key, " \n"); i >= 0 {
		key = key[i+1:]
	}

	// gw1 runs 1.0.0 under its loader.
	gdir := filepath.Join(dir, "gw")
	cfgPath := filepath.Join(dir, "edgegw.yaml")
	cfg := fmt.Sprintf(`gateway:
  id: gw1
store:
  dir: %s
inputs:
  - name: sim
    driver: sim
    options:
      rate: 100
uplink:
  url: %s
  key: %s
  max_age: 100ms
  retry_wait_min: 20ms
  retry_wait_max: 300ms
  poll_interval: 300ms
  heartbeat_interval: 300ms
status:
  listen: "off"
update:
  keys: [%q]
  health_timeout: 30s
`, filepath.Join(gdir, "store"), url, key, strings.TrimSpace(string(pub)))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startProc(t, "edgegw", filepath.Join(dir, "edgegw.log"), nil, b.v100, "service", "run", "--config", cfgPath)
	t.Cleanup(func() {
		if t.Failed() {
			st, n := gwUpdate(t, addr)
			out, _ := runCmd(t, adm, b.central, "release", "status")
			t.Logf("gw1's update status at the central: %+v (%d events)\nrelease status:\n%s\nloader log:\n%s\ncentral log:\n%s",
				st, n, out, tail(filepath.Join(dir, "edgegw.log"), 12000), tail(filepath.Join(dir, "central.log"), 3000))
		}
	})
	alive := func() {
		if gw.exited() {
			t.Fatalf("the loader exited: %v\n%s", gw.err, gw.logTail())
		}
	}
	var st wire.UpdateStatus
	var events uint64
	waitFor(t, 60*time.Second, "gw1 running 1.0.0 and syncing", func() bool {
		alive()
		st, events = gwUpdate(t, addr)
		return st.Running == "1.0.0" && events > 0
	})

	// (a) 1.1.0 is rolled out, proves itself and commits.
	mustRun(t, adm, b.central, "release", "push", b.v110, m110)
	mustRun(t, adm, b.central, "release", "rollout", "1.1.0", "--gateway", "gw1")
	waitFor(t, 120*time.Second, "gw1 running 1.1.0 (committed)", func() bool {
		alive()
		st, _ = gwUpdate(t, addr)
		return st.Running == "1.1.0" && st.Previous == "1.0.0"
	})
	_, before := gwUpdate(t, addr)
	waitFor(t, 30*time.Second, "events from 1.1.0", func() bool {
		alive()
		_, n := gwUpdate(t, addr)
		return n > before+20
	})

	// (b) 1.2.0 exits at start: three attempts, then 1.1.0 again.
	mustRun(t, adm, b.central, "release", "push", b.crash, m120)
	out := mustRun(t, adm, b.central, "release", "rollout", "1.2.0", "--place", "putuo/caoyang")
	rollout := strings.Fields(strings.TrimSpace(out))
	waitFor(t, 180*time.Second, "1.2.0 rolled back", func() bool {
		alive()
		st, _ = gwUpdate(t, addr)
		return st.Running == "1.1.0" && contains(st.Broken, "1.2.0")
	})
	status := mustRun(t, adm, b.central, "release", "status")
	if !strings.Contains(status, "halted") || !strings.Contains(status, "crashgw: broken release") && !strings.Contains(status, "rolled_back") {
		t.Errorf("release status after the rollback (rollout %v):\n%s", rollout, status)
	}
	list := mustRun(t, adm, b.central, "gateways", "list")
	t.Logf("after the rollback:\n$ edgecentral release status\n%s$ edgecentral gateways list\n%s", status, list)
	for _, w := range []string{"1.1.0", "1.0.0", "1.2.0"} {
		if !strings.Contains(list, w) {
			t.Errorf("gateways list does not show %s:\n%s", w, list)
		}
	}
	_, before = gwUpdate(t, addr)
	waitFor(t, 30*time.Second, "events after the rollback", func() bool {
		alive()
		_, n := gwUpdate(t, addr)
		return n > before+200 // two seconds of the sim: the uplink caught up
	})

	// Stop. The store carried across every switch (one epoch), and every
	// event the gateway accepted is at the central once, but for those of
	// its last moments (its uplink sends alerts, state changes and readings
	// in lanes of their own, and the drain's own events stay for its next
	// start).
	cutoff := time.Now().Add(-2 * time.Second)
	gw.term(30 * time.Second)
	cen.term(20 * time.Second)
	checkCarried(t, filepath.Join(gdir, "store", "log"), centralEventsJS(t, b.central, filepath.Join(dir, "central")), cutoff)
}

// centralEventsJS reads gw1's events from a stopped edgecentral's data
// directory with a fresh server, through the admin API.
func centralEventsJS(t *testing.T, bin, data string) []receiver.StoredEvent {
	t.Helper()
	addr := freeAddr(t)
	p := startProc(t, "edgecentral-read", filepath.Join(data, "..", "central-read.log"), nil, bin, "serve", "--listen", addr, "--data", data)
	defer p.term(20 * time.Second)
	var all []receiver.StoredEvent
	waitFor(t, 30*time.Second, "edgecentral listening again", func() bool {
		if p.exited() {
			t.Fatalf("edgecentral exited: %v\n%s", p.err, p.logTail())
		}
		return ready(addr)
	})
	for after := uint64(0); ; {
		resp, err := http.Get(fmt.Sprintf("http://%s/v1/admin/events?gateway=gw1&after=%d&limit=10000", addr, after))
		if err != nil {
			t.Fatal(err)
		}
		var page receiver.EventsPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			return all
		}
		all = append(all, page.Events...)
		after = page.Next
	}
}

func checkCarried(t *testing.T, dir string, central []receiver.StoredEvent, cutoff time.Time) {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatalf("open the gateway's store after the updates: %v", err)
	}
	defer s.Close()
	local := map[evID]time.Time{}
	epochs := map[uint64]bool{}
	for next := uint64(1); ; {
		evs, err := s.Read(next, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			local[evID{e.Epoch, e.Seq}] = e.Time
			epochs[e.Epoch] = true
		}
		next = evs[len(evs)-1].Seq + 1
	}
	if len(epochs) != 1 {
		t.Errorf("the gateway's store has %d epochs: it was not carried across the updates", len(epochs))
	}
	seen := map[evID]bool{}
	var last uint64
	for _, se := range central {
		e, err := se.Decode()
		if err != nil {
			t.Fatalf("central event %d: %v", se.Cursor, err)
		}
		id := evID{e.Epoch, e.Seq}
		if seen[id] {
			t.Errorf("event %v twice at the central", id)
		}
		seen[id] = true
		if _, ok := local[id]; !ok {
			t.Errorf("event %v at the central, not in the gateway's store", id)
		}
		last = max(last, e.Seq)
	}
	missing, old := 0, 0
	for id, ts := range local {
		if ts.Before(cutoff) {
			old++
			if !seen[id] {
				missing++
			}
		}
	}
	if missing > 0 || old == 0 || last == 0 {
		t.Errorf("%d of the gateway's %d events recorded before %s are not at the central (it has %d, up to seq %d)",
			missing, old, cutoff.Format(time.RFC3339Nano), len(central), last)
	}
}

// ready says whether the central at addr answers /readyz with 200 (its
// store is open).
func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
