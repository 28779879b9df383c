// Package statustest provides a Provider with a small compound in it, for
// tests of the status server, `edgegw status` and the browser test, until
// they run against the real gateway.
package statustest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/status"
)

// Fake is a Provider whose snapshot tests edit under its lock.
type Fake struct {
	mu     sync.Mutex
	Snap   status.Snapshot
	Acks   []string // "id by"
	Tested []string
	// Err, when set, is returned by Snapshot.
	Err error
	// ResolveOnAck makes an alert resolve just before its acknowledgement
	// lands: AckAlert removes it and answers not found, as the gateway
	// does for an alert no longer active.
	ResolveOnAck bool
}

// New returns a healthy compound: three devices online, one firing alert,
// an uplink with a small fresh backlog, a store at 25% of its cap.
func New(now time.Time) *Fake {
	on := func(id, loc, typ, pt string, v float64, unit, text string) status.Device {
		return status.Device{
			Device: edge.Device{ID: id, Location: loc, Type: typ, Driver: "sim", Tags: []string{"demo"}},
			Online: true, Since: now.Add(-time.Hour), LastPoint: pt, LastValue: v, LastUnit: unit, LastText: text,
			LastSeen: now.Add(-3 * time.Second), Events: 1200,
			Stats: edge.DeviceStats{Device: id, Frames: 1200, Garbage: 2, Errors: 1},
		}
	}
	return &Fake{Snap: status.Snapshot{
		GatewayID: "gw-test-1", Site: "Test Compound", Version: "1.2.3-test",
		Started: now.Add(-2 * time.Hour), Now: now, Uptime: status.Dur(2 * time.Hour), Ready: true,
		EventsIngested: 4242,
		Devices: []status.Device{
			on("door-3-2-101", "c1/b3/u2/h101", "door_contact", "door", 1, "", "open"),
			on("temp-b3", "c1/b3", "temperature", "temp", 21.5, "°C", ""),
			on("smoke-b3", "c1/b3", "smoke", "smoke", 0, "", "clear"),
		},
		Alerts: []status.Alert{{
			Alert:  edge.Alert{ID: "observed-door-open/door-3-2-101/17", Rule: "observed-door-open", State: edge.AlertFiring, Severity: "critical", Message: "door open at c1/b3/u2/h101"},
			Device: "door-3-2-101", Location: "c1/b3/u2/h101", Since: now.Add(-90 * time.Second), Seq: 17,
		}},
		Sync: edge.SyncStatus{
			Enabled: true, URL: "http://127.0.0.1:9/central", Reachable: true, BacklogEvents: 12, BacklogBytes: 3400,
			OldestUnsynced: now.Add(-20 * time.Second), LastSuccess: now.Add(-5 * time.Second), Successes: 310, Failures: 4,
			ClockSkew: 300 * time.Millisecond, SkewKnown: true,
		},
		Store:   edge.StoreStats{Epoch: 99, FirstSeq: 1, LastSeq: 4242, Bytes: 256 << 20, CapBytes: 1 << 30, Events: 4242},
		Outputs: []string{"siren", "voice"},
		Clock:   status.Clock{Trusted: true, Skew: status.Dur(300 * time.Millisecond), SkewKnown: true},
	}}
}

// Edit runs f on the snapshot under the lock.
func (f *Fake) Edit(fn func(s *status.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.Snap)
}

func (f *Fake) Snapshot(ctx context.Context) (status.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return status.Snapshot{}, f.Err
	}
	s := f.Snap
	s.Devices = append([]status.Device(nil), s.Devices...)
	s.Alerts = append([]status.Alert(nil), s.Alerts...)
	return s, nil
}

func (f *Fake) AckAlert(id, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.Snap.Alerts {
		if f.Snap.Alerts[i].ID == id && f.ResolveOnAck {
			f.Snap.Alerts = append(f.Snap.Alerts[:i:i], f.Snap.Alerts[i+1:]...)
			return fmt.Errorf("alert %q: no active alert with this id: %w", id, status.ErrNotFound)
		}
		if f.Snap.Alerts[i].ID == id {
			f.Snap.Alerts[i].State, f.Snap.Alerts[i].By = edge.AlertAcknowledged, by
			f.Acks = append(f.Acks, id+" "+by)
			return nil
		}
	}
	return fmt.Errorf("alert %q: %w", id, status.ErrNotFound)
}

func (f *Fake) TestOutput(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.Snap.Outputs {
		if o == name {
			f.Tested = append(f.Tested, name)
			return nil
		}
	}
	return fmt.Errorf("output %q: %w", name, status.ErrNotFound)
}

// AckCount returns how many acks were made.
func (f *Fake) AckCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Acks)
}

var _ status.Provider = (*Fake)(nil)
