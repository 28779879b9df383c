package e2e

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/e2e/internal/faultproxy"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

func newKey(t *testing.T) wire.Key {
	k, err := wire.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitProxy waits until the proxy has applied fault n more times.
func waitProxy(t *testing.T, px *faultproxy.Proxy, fault faultproxy.Fault, n int) {
	t.Helper()
	before, _ := px.Counts()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d more %s at the proxy", n, fault), func() bool {
		now, _ := px.Counts()
		return now[fault] >= before[fault]+n
	})
}

func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestNoLossThroughEveryFault runs the gateway through a proxy that cuts
// request bodies, truncates and drops answers (after the central platform
// stored the batch), answers 500 and 429, delays, and holds the central
// platform down twice, and checks that every event the gateway accepted is
// stored exactly once.
func TestNoLossThroughEveryFault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	px := startProxy(t, c.addr)
	px.DelayFor = 100 * time.Millisecond
	px.RetryAfter = 0 // the 429s still come; waiting for them is the unit tests' business
	px.SetPlan(faultproxy.Random(1, "/v1/", map[faultproxy.Fault]float64{
		faultproxy.Delay: 0.05, faultproxy.Error500: 0.06, faultproxy.TooMany: 0.04, faultproxy.CutRequest: 0.06,
		faultproxy.TruncateResp: 0.06, faultproxy.DropResp: 0.06, faultproxy.Reset: 0.03,
	}))
	gw := startGateway(t, filepath.Join(dir, "g"), px.URL(), key, "--rate", "8000", "--total", "20000", "--max-events", "400")
	// Hold the central platform down twice while the gateway records: once
	// some requests went through, until the gateway met the dead link a
	// few times.
	for i := 0; i < 2; i++ {
		waitProxy(t, px, faultproxy.Pass, 8)
		px.SetDown(true)
		waitProxy(t, px, faultproxy.Reset, 4)
		px.SetDown(false)
	}
	drained(t, gw, 60*time.Second)
	gw.term(10 * time.Second)
	c.term(10 * time.Second)

	counts, total := px.Counts()
	t.Logf("proxy: %d requests, faults %v", total, counts)
	for _, f := range []faultproxy.Fault{faultproxy.Error500, faultproxy.TooMany, faultproxy.CutRequest, faultproxy.TruncateResp, faultproxy.DropResp, faultproxy.Reset, faultproxy.Delay} {
		if counts[f] == 0 {
			t.Errorf("fault %s never happened: the test did not test it", f)
		}
	}
	checkExactlyOnce(t, gatewayEvents(t, gw.dir), centralEvents(t, c.dir))
}

// TestGatewayKilledDuringUpload SIGKILLs the gateway process a dozen times
// while it uploads, restarting it each time, then lets it drain.
func TestGatewayKilledDuringUpload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	px := startProxy(t, c.addr)
	// A little delay on batches keeps uploads in flight when the kill comes.
	px.DelayFor = 30 * time.Millisecond
	px.SetPlan(faultproxy.Random(2, wire.PathBatches, map[faultproxy.Fault]float64{faultproxy.Delay: 0.5}))
	gdir := filepath.Join(dir, "g")
	rng := rand.New(rand.NewPCG(7, 7))
	const kills = 12
	var lastSeqs []uint64
	for i := 0; i < kills; i++ {
		gw := startGateway(t, gdir, px.URL(), key, "--rate", "8000", "--total", "15000", "--max-events", "300")
		// Wait until it is uploading (the backlog exists and batches flow).
		before, _ := px.Counts()
		waitFor(t, 20*time.Second, "uploads in flight", func() bool {
			if gw.exited() {
				t.Fatalf("gateway exited: %v\n%s", gw.err, gw.logTail())
			}
			now, _ := px.Counts()
			return now[faultproxy.Delay]+now[faultproxy.Pass] > before[faultproxy.Delay]+before[faultproxy.Pass]+2
		})
		// Kill it after a random number of further batches, some of them
		// still in flight (the proxy delays half of them).
		waitProxy(t, px, faultproxy.Delay, 1+rng.IntN(3))
		gw.kill() // SIGKILL
		lastSeqs = append(lastSeqs, gw.state().LastSeq)
	}
	gw := startGateway(t, gdir, px.URL(), key, "--rate", "8000", "--total", "15000", "--max-events", "300")
	drained(t, gw, 60*time.Second)
	gw.term(10 * time.Second)
	c.term(10 * time.Second)
	t.Logf("last seq at each kill: %v", lastSeqs)
	checkExactlyOnce(t, gatewayEvents(t, gdir), centralEvents(t, c.dir))
}

// TestReceiverKilledAfterStoreBeforeAck kills the central process right
// after it stored a batch and before the acknowledgement left, three times;
// the gateway resends, the receiver dedupes, nothing is stored twice.
func TestReceiverKilledAfterStoreBeforeAck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	cdir := filepath.Join(dir, "c")
	c := startCentral(t, cdir, key, "--crash-after-store", "3")
	px := startProxy(t, c.addr)
	gw := startGateway(t, filepath.Join(dir, "g"), px.URL(), key, "--rate", "10000", "--total", "20000", "--max-events", "500")
	for i := 0; i < 3; i++ {
		waitFor(t, 30*time.Second, "the receiver to crash after a store", func() bool { return c.exited() })
		if !strings.Contains(c.logTail(), "crashing after store, before ack") {
			t.Fatalf("central exited without the crash hook: %v\n%s", c.err, c.logTail())
		}
		args := []string{"--crash-after-store", "4"}
		if i == 2 {
			args = nil
		}
		c = startCentral(t, cdir, key, args...)
		px.SetTarget(c.addr)
	}
	drained(t, gw, 60*time.Second)
	gw.term(10 * time.Second)
	c.term(10 * time.Second)
	checkExactlyOnce(t, gatewayEvents(t, gw.dir), centralEvents(t, cdir))
}

// TestAlertDuringOutageArrivesBeforeBacklog holds the central platform down
// while the gateway records a backlog of readings and then an alert; once
// the network is back, the alert is stored before any reading of the
// backlog (and before the state changes recorded before it: alerts have
// a lane of their own).
func TestAlertDuringOutageArrivesBeforeBacklog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	px := startProxy(t, c.addr)
	px.SetDown(true)
	gw := startGateway(t, filepath.Join(dir, "g"), px.URL(), key, "--rate", "20000", "--total", "15000", "--max-events", "1000")
	waitFor(t, 30*time.Second, "a backlog of 15000 events", func() bool { return gw.state().Done })
	if s := gw.state(); s.Up || s.Sync.BacklogEvents < 15000 {
		t.Fatalf("during the outage: got up=%v backlog=%d, want down with the whole backlog", s.Up, s.Sync.BacklogEvents)
	}
	gw.send("alert outage-door")
	waitFor(t, 10*time.Second, "the alert recorded", func() bool { return len(gw.state().Alerts) == 1 })
	px.SetDown(false)
	drained(t, gw, 60*time.Second)
	waitFor(t, 10*time.Second, "the gateway to see the uplink up", func() bool { return gw.state().Up })
	gw.term(10 * time.Second)
	c.term(10 * time.Second)

	got := centralEvents(t, c.dir)
	alertAt, firstReading := -1, -1
	for i, e := range got {
		if e.Kind == wire.KindAlert && e.Alert != nil && e.Alert.ID == "outage-door" {
			alertAt = i
		}
		if (e.Kind == wire.KindReading || e.Kind == wire.KindState) && firstReading < 0 {
			firstReading = i
		}
	}
	if alertAt < 0 || firstReading < 0 {
		t.Fatalf("alert at %d, first reading at %d: both must have arrived", alertAt, firstReading)
	}
	if alertAt > firstReading {
		t.Fatalf("the alert arrived at position %d, after the first backlog reading or state change at %d", alertAt, firstReading)
	}
	t.Logf("alert arrived %d of %d, first reading %d", alertAt, len(got), firstReading)
	checkExactlyOnce(t, gatewayEvents(t, gw.dir), got)
}

// TestBadDownlinkRefused pushes a good config bundle, then a bad one (the
// old config keeps running), then forges a command list in the proxy (the
// gateway refuses it), then queues a genuine command (the gateway runs it
// and the central platform gets the result).
func TestBadDownlinkRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	px := startProxy(t, c.addr)
	gw := startGateway(t, filepath.Join(dir, "g"), px.URL(), key, "--rate", "200")

	good := "gateway:\n  id: gw1\nstore:\n  dir: " + filepath.Join(dir, "unused") + "\n"
	c.admin(t, "/v1/admin/config", receiver.PutConfigRequest{Gateway: "gw1", YAML: good, Version: "7"})
	waitFor(t, 20*time.Second, "config 7 applied", func() bool { return gw.state().ConfigVersion == "7" })

	c.admin(t, "/v1/admin/config", receiver.PutConfigRequest{Gateway: "gw1", YAML: "gateway:\n  id: gw1\n  bogus_key: 1\n", Version: "8"})
	waitFor(t, 20*time.Second, "config 8 refused", func() bool { return strings.Contains(gw.state().ConfigError, "config 8 refused") })
	if s := gw.state(); s.ConfigVersion != "7" || s.Config != good || s.Sync.ConfigVersion != "7" {
		t.Fatalf("after the bad bundle: running version %q (%q), want 7 with the good config", s.ConfigVersion, s.Sync.ConfigVersion)
	}
	if !strings.Contains(gw.state().ConfigError, "bogus_key") {
		t.Fatalf("config error does not name the field: %q", gw.state().ConfigError)
	}

	// A forged command list: the proxy swaps the body; the signature, made
	// by the central platform over the real body, no longer matches.
	forged := `{"commands":[{"id":99,"type":"pulse_output","args":{"output":"siren","duration":"5s"}}]}`
	px.SetRewrite(func(r *http.Request, status int, h http.Header, body []byte) []byte {
		if r.URL.Path == wire.PathCommands && status == 200 {
			return []byte(forged)
		}
		return body
	})
	waitFor(t, 20*time.Second, "forged command lists refused", func() bool { return gw.state().Forged >= 2 })
	px.SetRewrite(nil)
	for _, cmd := range gw.state().Commands {
		if strings.Contains(cmd, "siren") {
			t.Fatalf("the forged command ran: %v", gw.state().Commands)
		}
	}

	// A genuine command goes through, and its result reaches the platform.
	c.admin(t, "/v1/admin/commands", receiver.AddCommandRequest{Gateway: "gw1", Type: wire.CmdPulseOutput,
		Args: map[string]string{"output": "siren", "duration": "2s"}})
	waitFor(t, 20*time.Second, "the genuine command run", func() bool {
		for _, cmd := range gw.state().Commands {
			if strings.Contains(cmd, "output siren pulse") {
				return true
			}
		}
		return false
	})

	// send_diagnostics end to end: the platform asks, the gateway's
	// controller builds its bundle, the uplink uploads it with the result,
	// the platform keeps it for download.
	c.admin(t, "/v1/admin/commands", receiver.AddCommandRequest{Gateway: "gw1", Type: wire.CmdSendDiagnostics})
	var bundle []byte
	waitFor(t, 20*time.Second, "the diagnostics bundle at central", func() bool {
		resp, err := http.Get("http://" + c.addr + "/v1/admin/diagnostics/latest?gateway=gw1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		bundle, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "status.txt" {
		t.Fatalf("diagnostics bundle: %v %v", zr, err)
	}
	gw.term(10 * time.Second)
	c.term(10 * time.Second)
	b, err := receiver.OpenBadger(filepath.Join(c.dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cmds, err := b.Commands("gw1", 0, 10, false)
	if err != nil || len(cmds) != 2 || cmds[0].Result == nil || !cmds[0].Result.OK || cmds[1].AttachmentBytes != len(bundle) {
		t.Fatalf("command results at central: got %+v (%v), want two OK, the second with the bundle", cmds, err)
	}
	gws, err := b.Gateways()
	if err != nil || len(gws) != 1 || gws[0].LastHeartbeat == nil {
		t.Fatalf("gateway status at central: %+v %v", gws, err)
	}
	if hb := gws[0].LastHeartbeat; hb.ConfigVersion != "7" || !strings.Contains(hb.LastError, "config 8 refused") {
		t.Fatalf("last heartbeat: config %q, error %q: want 7 and the refusal of 8", hb.ConfigVersion, hb.LastError)
	}
}

// TestPoisonAlertQuarantined: an alert stamped 1990 by a clock the gateway
// trusts is a batch the real receiver refuses (422, naming the event); the
// real uplink splits the batch, quarantines that event alone with a gap
// record, and carries on: no endless retry, nothing else lost.
func TestPoisonAlertQuarantined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	gw := startGateway(t, filepath.Join(dir, "g"), "http://"+c.addr, key, "--rate", "4000", "--total", "3000", "--max-events", "300")
	gw.send(fmt.Sprintf("alert-at %d poison-1990", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()))
	waitFor(t, 10*time.Second, "the poison alert recorded", func() bool { return len(gw.state().Alerts) == 1 })
	poison := gw.state().Alerts[0]
	drained(t, gw, 60*time.Second)
	waitFor(t, 20*time.Second, "the quarantine reported", func() bool { return gw.state().Sync.Quarantined == 1 })
	gw.term(10 * time.Second)
	c.term(10 * time.Second)

	got := centralEvents(t, c.dir)
	var gap *wire.Gap
	for _, e := range got {
		if e.Seq == poison && e.Kind == wire.KindAlert {
			t.Fatal("the poison alert was stored")
		}
		if e.Kind == wire.KindGap && e.Gap != nil && e.Gap.From == poison {
			gap = e.Gap
		}
	}
	if gap == nil || gap.To != poison || gap.Count != 1 || !strings.Contains(gap.Reason, fmt.Sprintf("event %d/%d", gap.Epoch, poison)) {
		t.Fatalf("gap record of the poison alert: got %+v", gap)
	}
	want := gatewayEvents(t, gw.dir)
	for id := range want {
		if id.seq == poison {
			delete(want, id)
		}
	}
	checkExactlyOnce(t, want, got)
}
