package status_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/edge/status/statustest"
)

// lintSnapshot has something in every family: an offline device, errors
// by cause, output calls with durations, sync state, a disk.
func lintSnapshot() *statustest.Fake {
	f := statustest.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	f.Edit(func(s *status.Snapshot) {
		s.Devices[1].Online = false
		s.Devices[0].Stats.ErrorsByCause = map[string]uint64{"timeout": 2, "crc": 1}
		s.Sync.State, s.Sync.StateSince = edge.SyncOK, s.Now.Add(-time.Minute)
		s.Store.DiskTotal, s.Store.DiskFree, s.Store.DiskReserve = 1<<30, 512<<20, 64<<20
		b := make([]uint64, len(edge.LatencyBuckets))
		for i := range b {
			b[i] = uint64(min(i+1, 5))
		}
		s.OutputStats = []edge.OutputStats{{Name: "siren", OK: 4, Failed: 1, Count: 5, SumSeconds: 0.4, Buckets: b}}
	})
	return f
}

// TestMetricsFollowConventions runs Prometheus's own linter (what
// `promtool check metrics` runs) over /metrics: counters end in _total,
// gauges do not, units are base units, every metric has help.
func TestMetricsFollowConventions(t *testing.T) {
	text, err := status.MetricsText(lintSnapshot(), "test")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`edgegw_device_up{device="temp-b3",location="c1/b3",type="temperature"} 0`,
		`edgegw_device_up{device="smoke-b3",location="c1/b3",type="smoke"} 1`,
		`edgegw_output_actions_total{output="siren"} 5`,
		`edgegw_output_failures_total{output="siren"} 1`,
		`edgegw_output_action_duration_seconds_bucket{output="siren",le="0.005"} 1`,
		`edgegw_output_action_duration_seconds_count{output="siren"} 5`,
		`edgegw_device_errors_by_cause_total{cause="timeout",device="door-3-2-101"} 2`,
	} {
		if !strings.Contains(string(text), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestPromtoolCheckMetrics runs Debian's promtool (package prometheus,
// installed by scripts/setup.sh) over /metrics, and over the alert rules
// shipped in packaging/prometheus.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("skipped: no promtool (Debian package prometheus; scripts/setup.sh installs it)")
	}
	text, err := status.MetricsText(lintSnapshot(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	rules, _ := filepath.Glob("../../packaging/prometheus/*.rules.yml")
	if len(rules) == 0 {
		t.Fatal("no alert rules in packaging/prometheus")
	}
	for _, r := range rules {
		if out, err := exec.CommandContext(ctx, promtool, "check", "rules", r).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", r, err, out)
		}
	}
	if _, err := os.Stat("../../packaging/grafana/edgegw-fleet.json"); err != nil {
		t.Errorf("the Grafana dashboard: %v", err)
	}
}
