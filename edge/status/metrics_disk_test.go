package status_test

import (
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgegw/edgegw/edge/status"
)

// The store's disk figures reach /metrics.
func TestMetricsDisk(t *testing.T) {
	r := newRig(t, false)
	r.fake.Edit(func(s *status.Snapshot) {
		s.Store.DiskFree, s.Store.DiskTotal, s.Store.DiskReserve, s.Store.DiskHeld = 3<<20, 128<<20, 64<<20, 0
		s.Store.DiskFull, s.Store.DiskEvicted, s.Store.Refused = true, 1500, 42
	})
	resp := r.do("GET", "/metrics", nil, nil)
	wantCode(t, "metrics", resp, 200)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"edgegw_disk_free_bytes":               3 << 20,
		"edgegw_disk_total_bytes":              128 << 20,
		"edgegw_store_disk_reserve_bytes":      64 << 20,
		"edgegw_store_disk_reserve_held_bytes": 0,
		"edgegw_store_disk_full":               1,
		"edgegw_store_read_only":               0,
		"edgegw_store_disk_evicted_total":      1500,
		"edgegw_store_refused_total":           42,
	} {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		m := mf.GetMetric()[0]
		if got := m.GetGauge().GetValue() + m.GetCounter().GetValue(); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}
