package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/e2e/internal/faultproxy"
	"github.com/edgegw/edgegw/sync/receiver"
)

// TestRealGatewayBinary runs the real `edgegw run --config FILE` (the sim
// driver, rules, the uplink) through a faulty proxy, SIGKILLs it four times
// during upload, and checks exactly-once delivery of everything its store
// holds.
func TestRealGatewayBinary(t *testing.T) {
	t.Parallel()
	if bins.edgegwErr != "" {
		t.Fatal(bins.edgegwErr)
	}
	dir := t.TempDir()
	key := newKey(t)
	c := startCentral(t, filepath.Join(dir, "c"), key)
	px := startProxy(t, c.addr)
	px.SetPlan(faultproxy.Random(3, "/v1/", map[faultproxy.Fault]float64{
		faultproxy.Error500: 0.05, faultproxy.CutRequest: 0.05, faultproxy.DropResp: 0.05, faultproxy.TruncateResp: 0.05,
	}))
	gdir := filepath.Join(dir, "g")
	cfgPath := filepath.Join(dir, "edgegw.yaml")
	cfg := fmt.Sprintf(`gateway:
  id: gw1
store:
  dir: %s
inputs:
  - name: sim
    driver: sim
    options:
      rate: 3000
      max_events: 4000
uplink:
  url: %s
  key: %s
  max_events: 300
  max_age: 50ms
  retry_wait_min: 20ms
  retry_wait_max: 300ms
  retry_after_cap: 2s
  poll_interval: 300ms
  heartbeat_interval: 500ms
status:
  listen: "off"
`, gdir, px.URL(), key)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() *proc {
		return startProc(t, "edgegw", filepath.Join(dir, "edgegw.log"), nil, bins.edgegw, "run", "--config", cfgPath)
	}
	for i := 0; i < 4; i++ {
		p := run()
		before := centralCount(t, c)
		waitFor(t, 30*time.Second, "edgegw uploading", func() bool {
			if p.exited() {
				t.Fatalf("edgegw exited: %v\n%s", p.err, p.logTail())
			}
			return centralCount(t, c) > before+200
		})
		p.kill()
	}
	p := run()
	// The sim stops after max_events; wait until the central platform's
	// count stops moving, then stop the gateway and compare.
	last, since := uint64(0), time.Now()
	waitFor(t, 60*time.Second, "the upload to settle", func() bool {
		if p.exited() {
			t.Fatalf("edgegw exited: %v\n%s", p.err, p.logTail())
		}
		n := centralCount(t, c)
		if n != last {
			last, since = n, time.Now()
		}
		return n >= 4000 && time.Since(since) > 1500*time.Millisecond
	})
	p.term(15 * time.Second)
	c.term(10 * time.Second)
	checkExactlyOnce(t, gatewayEvents(t, gdir), centralEvents(t, c.dir))
}

// centralCount asks the central admin API how many events gw1 has.
func centralCount(t *testing.T, c *central) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + c.addr + "/v1/admin/gateways")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var page struct {
		Gateways []receiver.GatewayStatus `json:"gateways"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatalf("admin gateways: %v", err)
	}
	gws := page.Gateways
	for _, g := range gws {
		if g.ID == "gw1" {
			return g.Events
		}
	}
	return 0
}
