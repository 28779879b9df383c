package status_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/status"
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestMetricsParse(t *testing.T) {
	r := newRig(t, false)
	r.fake.Edit(func(s *status.Snapshot) {
		s.Devices[1].Online = false
		s.Sync.Successes, s.Sync.Failures = 7, 3
		s.Sync.State, s.Sync.StateSince = edge.SyncStalled, s.Now.Add(-90*time.Second)
	})
	resp := r.do("GET", "/metrics", nil, nil)
	wantCode(t, "metrics", resp, 200)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus text parser: %v", err)
	}
	want := map[string]float64{
		"edgegw_events_ingested_total":            4242,
		"edgegw_sync_backlog_events":              12,
		"edgegw_sync_backlog_bytes":               3400,
		"edgegw_sync_success_total":               7,
		"edgegw_sync_failure_total":               3,
		"edgegw_store_bytes":                      256 << 20,
		"edgegw_store_cap_bytes":                  1 << 30,
		"edgegw_devices_online":                   2,
		"edgegw_devices":                          3,
		"edgegw_active_alerts":                    1,
		"edgegw_snapshot_ok":                      1,
		"edgegw_sync_central_reachable":           1,
		"edgegw_sync_oldest_unsynced_age_seconds": 20,
	}
	for name, v := range want {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		m := mf.GetMetric()[0]
		got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if got != v {
			t.Errorf("%s: got %v, want %v", name, got, v)
		}
	}
	if mf := fams["edgegw_events_ingested_total"]; mf != nil && mf.GetType().String() != "COUNTER" {
		t.Errorf("events_ingested_total type %v", mf.GetType())
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go collector metrics")
	}
	if mf := fams["edgegw_device_garbage_total"]; mf == nil || len(mf.GetMetric()) != 3 {
		t.Errorf("per-device garbage: %v", mf)
	}
	if mf := fams["edgegw_sync_state"]; mf == nil || len(mf.GetMetric()) != len(edge.SyncStates) {
		t.Errorf("sync_state: %v", mf)
	} else {
		for _, m := range mf.GetMetric() {
			if want := b2f(m.GetLabel()[0].GetValue() == edge.SyncStalled); m.GetGauge().GetValue() != want {
				t.Errorf("sync_state{state=%q}: got %v, want %v", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue(), want)
			}
		}
	}
	if v := fams["edgegw_sync_state_seconds"].GetMetric()[0].GetGauge().GetValue(); v != 90 {
		t.Errorf("sync_state_seconds: got %v, want 90", v)
	}
	if mf := fams["edgegw_build_info"]; mf == nil || mf.GetMetric()[0].GetLabel()[0].GetValue() != "1.2.3-test" {
		t.Errorf("build_info: %v", mf)
	}

	// A failing snapshot still gives a parseable scrape that says so.
	r.fake.Err = errTest
	resp = r.do("GET", "/metrics", nil, nil)
	wantCode(t, "metrics while snapshot fails", resp, 200)
	fams, err = p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := fams["edgegw_snapshot_ok"].GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("snapshot_ok while failing: %v", v)
	}
	if _, ok := fams["edgegw_devices_online"]; ok {
		t.Error("stale device metrics while snapshot fails")
	}
}

// TestMetricsErrorsByCause: a device's errors by cause become one counter
// per cause, labelled with the device and the cause, and the status JSON
// carries them as they are.
func TestMetricsErrorsByCause(t *testing.T) {
	r := newRig(t, false)
	r.fake.Edit(func(s *status.Snapshot) {
		s.Devices[1].Stats.Errors = 7
		s.Devices[1].Stats.ErrorsByCause = map[string]uint64{"timeout": 4, "mismatched": 2, "exception_6": 1}
	})
	resp := r.do("GET", "/metrics", nil, nil)
	wantCode(t, "metrics", resp, 200)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus text parser: %v", err)
	}
	mf := fams["edgegw_device_errors_by_cause_total"]
	if mf == nil || mf.GetType().String() != "COUNTER" {
		t.Fatalf("edgegw_device_errors_by_cause_total: %v", mf)
	}
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["device"] != "temp-b3" {
			t.Errorf("cause counter of device %q", labels["device"])
		}
		got[labels["cause"]] = m.GetCounter().GetValue()
	}
	if want := map[string]float64{"timeout": 4, "mismatched": 2, "exception_6": 1}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	resp = r.do("GET", "/api/status", nil, nil)
	wantCode(t, "status", resp, 200)
	var snap status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if got := snap.Devices[1].Stats.ErrorsByCause; got["timeout"] != 4 || got["mismatched"] != 2 || got["exception_6"] != 1 {
		t.Errorf("status JSON errors_by_cause: got %v", got)
	}
}
