package gateway

import (
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/status"
)

type silenceSet map[string]bool

func (s silenceSet) Silence(name string) bool { return s[name] }

// A device whose silence alert fires reads offline in its row too; other
// alerts leave the row alone.
func TestSilencedDeviceReadsOffline(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s := &status.Snapshot{
		Devices: []status.Device{
			{Device: edge.Device{ID: "water-b1"}, Online: true},
			{Device: edge.Device{ID: "smoke-b1"}, Online: true},
			{Device: edge.Device{ID: "temp-b1"}, Online: true},
		},
		Alerts: []status.Alert{
			{Alert: edge.Alert{Rule: "sensor-offline", State: edge.AlertFiring}, Device: "water-b1", Since: t0},
			{Alert: edge.Alert{Rule: "smoke", State: edge.AlertFiring}, Device: "smoke-b1", Since: t0},
			{Alert: edge.Alert{Rule: "sensor-offline", State: edge.AlertAcknowledged}, Device: "temp-b1", Since: t0},
		},
	}
	silenced(s, silenceSet{"sensor-offline": true})
	want := map[string]bool{"water-b1": false, "smoke-b1": true, "temp-b1": false}
	for _, d := range s.Devices {
		if d.Online != want[d.ID] {
			t.Errorf("%s online %v, want %v (reason %q)", d.ID, d.Online, want[d.ID], d.Reason)
		}
	}
	if d := s.Devices[0]; d.Reason != "silent: alert sensor-offline" || !d.Since.Equal(t0) {
		t.Errorf("reason %q since %v", d.Reason, d.Since)
	}
	if n := s.OnlineCount(); n != 1 {
		t.Errorf("online count %d, want 1", n)
	}
}
