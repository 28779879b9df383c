package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/store"
)

const baseConfig = `
gateway: {id: gw-test, timezone: UTC}
store: {dir: %q, cap: 64MiB, commit_wait: 2ms}
status: {listen: "off"}
inputs:
  - name: compound
    driver: sim
    options: {seed: 7, rate: %d, buildings: 1, units: 1, households: 4, observe_every: 1}
outputs:
  - name: sign
    driver: sim
    options: {kind: sign}
rules:
  - name: observed-door-open
    match: {tags: [observe], points: [door]}
    when: event.text == "open"
    severity: critical
    message: "door open at {{.Device.Location}}"
    actions:
      - {output: sign, op: send, text: "DOOR {{.Device.Location}}"}
%s`

func parse(t *testing.T, dir string, rate int, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(baseConfig, dir, rate, extra)))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

type running struct {
	g    *gateway.Gateway
	stop func()
}

func start(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	g, err := gateway.New(gateway.Options{Config: cfg, Logger: edge.DiscardLogger()})
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := g.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitReady(t, g)
	r := &running{g: g, stop: func() { cancel(); wg.Wait() }}
	t.Cleanup(r.stop)
	return r
}

func waitReady(t *testing.T, g *gateway.Gateway) {
	t.Helper()
	select {
	case <-g.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("gateway not ready after 20s")
	}
}

// waitFor waits until cond holds, checking it again each time an event is
// made durable (the simulated compound of these tests never stops
// sending), for at most 20s.
func waitFor(t *testing.T, g *gateway.Gateway, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		next := g.Store().Wait(g.Store().LastSeq())
		if cond() {
			return
		}
		select {
		case <-next:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// readAll reopens the store and returns every event in it.
func readAll(t *testing.T, dir string) []edge.Event {
	t.Helper()
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "log"), CapBytes: 64 << 20})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer st.Close()
	var out []edge.Event
	for from := uint64(1); ; {
		evs, err := st.Read(from, 1000)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		from = evs[len(evs)-1].Seq + 1
	}
}

func TestDoorOpenRaisesAlertAndDrivesOutput(t *testing.T) {
	dir := t.TempDir()
	r := start(t, parse(t, dir, 20, ""))
	var d *sim.Driver
	waitFor(t, r.g, "the sim driver running", func() bool {
		var ok bool
		d, ok = sim.Get("compound")
		return ok
	})
	door := ""
	locs := map[string]string{} // device -> location in the config
	for _, dev := range d.Devices() {
		if dev.Type == "door_contact" && door == "" {
			door = dev.ID
		}
		locs[dev.ID] = dev.Location
	}
	if err := d.OpenDoor(door); err != nil {
		t.Fatalf("open door: %v", err)
	}
	ctx := context.Background()
	var alert string
	waitFor(t, r.g, "an active alert for the door", func() bool {
		s, _ := r.g.Snapshot(ctx)
		for _, a := range s.Alerts {
			if a.Device == door && a.Rule == "observed-door-open" {
				alert = a.ID
				return true
			}
		}
		return false
	})
	if err := r.g.AckAlert(alert, "local:test"); err != nil {
		t.Fatalf("ack: %v", err)
	}
	// AckAlert returns once the acknowledgement is applied.
	s, _ := r.g.Snapshot(ctx)
	acked := false
	for _, a := range s.Alerts {
		acked = acked || (a.ID == alert && a.State == edge.AlertAcknowledged)
	}
	if !acked {
		t.Errorf("alerts after the ack: %+v, want %s acknowledged", s.Alerts, alert)
	}
	if err := r.g.AckAlert("no-such-alert", "local:test"); err == nil {
		t.Error("ack of an unknown alert: got nil error")
	}
	r.stop()

	var sawOpen, sawFiring, sawAck bool
	located := map[edge.Kind]int{}
	for _, ev := range readAll(t, dir) {
		// Every event of a device carries its location from the config,
		// whoever recorded it: the driver, the supervisor, the rule engine.
		if ev.Device != "" {
			if want := locs[ev.Device]; ev.Location != want || want == "" {
				t.Errorf("%s event of %s seq %d: location %q, want %q", ev.Kind, ev.Device, ev.Seq, ev.Location, want)
			}
			located[ev.Kind]++
		}
		switch {
		case ev.Kind == edge.KindState && ev.Device == door && ev.Text == "open":
			sawOpen = true
		case ev.Kind == edge.KindAlert && ev.Alert.ID == alert && ev.Alert.State == edge.AlertFiring:
			if !sawOpen {
				t.Error("alert logged before the event that caused it")
			}
			sawFiring = true
			if ev.Priority != edge.PriorityAlert {
				t.Errorf("alert priority: got %d, want %d", ev.Priority, edge.PriorityAlert)
			}
		case ev.Kind == edge.KindAlert && ev.Alert.ID == alert && ev.Alert.State == edge.AlertAcknowledged:
			sawAck = true
			if ev.Alert.By != "local:test" {
				t.Errorf("ack by: got %q, want %q", ev.Alert.By, "local:test")
			}
		}
	}
	if !sawOpen || !sawFiring || !sawAck {
		t.Errorf("log: open %v, firing %v, acknowledged %v; want all true", sawOpen, sawFiring, sawAck)
	}
	for _, k := range []edge.Kind{edge.KindState, edge.KindAlert, edge.KindStatus} {
		if located[k] == 0 {
			t.Errorf("no located %s event; got %v", k, located)
		}
	}
}

func TestApplyConfigReloadsWithoutLosingEvents(t *testing.T) {
	dir := t.TempDir()
	r := start(t, parse(t, dir, 2000, ""))
	ctx := context.Background()
	waitFor(t, r.g, "some events", func() bool { return r.g.Store().LastSeq() > 500 })

	// An invalid bundle is refused with file:line and the old config runs on.
	bad := fmt.Sprintf(baseConfig, dir, 2000, "  - name: broken\n    match: {points: [door]}\n    when: event.nosuchfield ==== 1\n")
	err := r.g.ApplyConfig(ctx, []byte(bad), "v-bad")
	if err == nil {
		t.Fatal("invalid bundle: got nil error")
	}
	if !strings.Contains(err.Error(), "central config v-bad:") {
		t.Errorf("error does not name the bundle and line: %v", err)
	}
	if n := len(r.g.Config().Rules); n != 1 {
		t.Errorf("after a refused bundle: %d rules running, want 1", n)
	}
	// A bundle that moves the data directory is refused too.
	moved := fmt.Sprintf(baseConfig, t.TempDir(), 2000, "")
	if err := r.g.ApplyConfig(ctx, []byte(moved), "v-moved"); err == nil {
		t.Error("bundle moving store.dir: got nil error")
	}

	// A valid bundle is applied: drivers and rules reload.
	good := fmt.Sprintf(baseConfig, dir, 2000, `  - name: water-high
    match: {points: [level]}
    when: event.value > 150
    severity: warning
    message: "water high"
`)
	before := r.g.Store().LastSeq()
	if err := r.g.ApplyConfig(ctx, []byte(good), "v2"); err != nil {
		t.Fatalf("valid bundle: %v", err)
	}
	if n := len(r.g.Config().Rules); n != 2 {
		t.Errorf("after the bundle: %d rules, want 2", n)
	}
	waitFor(t, r.g, "events after the reload", func() bool { return r.g.Store().LastSeq() > before+500 })
	r.stop()

	evs := readAll(t, dir)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: the log has a hole", i, ev.Seq)
		}
	}
	// The applied bundle is the last good config: a restart comes back to it.
	local := parse(t, dir, 2000, "")
	pushed, ver, err := gateway.LoadLastGood(local)
	if err != nil || pushed == nil {
		t.Fatalf("last good config: %v, %v", pushed, err)
	}
	if ver != "v2" || len(pushed.Rules) != 2 {
		t.Errorf("last good: version %q with %d rules, want v2 with 2", ver, len(pushed.Rules))
	}
}

func TestCheckReportsDriverAndRuleErrors(t *testing.T) {
	cfg, err := config.Parse("check.yaml", []byte(`
gateway: {id: gw}
store: {dir: /tmp/x}
inputs:
  - name: a
    driver: sim
    options: {buildings: 1, units: 1, households: 1}
  - name: b
    driver: sim
    options: {buildings: 1, units: 1, households: 1}
rules:
  - name: r
    match: {points: [door]}
    when: event.value +
`))
	if err == nil {
		err = gateway.Check(cfg)
	}
	if err == nil {
		t.Fatal("got nil error")
	}
	msg := err.Error()
	for _, want := range []string{"check.yaml:", "duplicate device id"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}
