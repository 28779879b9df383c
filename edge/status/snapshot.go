package status

import (
	"context"
	"errors"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Provider is what the status server needs from the running gateway. The
// Gateway implements it.
type Provider interface {
	// Snapshot returns the gateway's state now. It must be cheap (the page
	// polls it every 2 s, /metrics on every scrape) and must not block on
	// ingest, the store's disk scans or the network.
	Snapshot(ctx context.Context) (Snapshot, error)
	// AckAlert acknowledges an active alert; by names who did it
	// ("local:status-page"). An unknown id returns an error wrapping
	// ErrNotFound.
	AckAlert(id, by string) error
	// TestOutput drives output name once with its test operation. An unknown
	// name returns an error wrapping ErrNotFound.
	TestOutput(ctx context.Context, name string) error
}

// ErrNotFound is wrapped by a Provider's errors for an unknown alert or
// output; the API answers 404.
var ErrNotFound = errors.New("not found")

// Snapshot is the gateway's state as the status page, /api/status,
// /metrics and `edgegw status` see it.
type Snapshot struct {
	GatewayID string    `json:"gateway_id"`
	Site      string    `json:"site,omitempty"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	// Now is the gateway's wall clock when the snapshot was taken; Uptime is
	// measured on the monotonic clock.
	Now    time.Time `json:"now"`
	Uptime Seconds   `json:"uptime_s"`

	// Ready is true once the store is open and the drivers are started.
	Ready bool `json:"ready"`
	// Problems are the gateway's own health findings, one line each
	// ("store: 93% of cap", "rules: cursor stuck"). Empty when healthy.
	Problems []string `json:"problems,omitempty"`

	// EventsIngested counts events made durable by this process.
	EventsIngested uint64 `json:"events_ingested"`
	// EventsFailed counts events the store refused.
	EventsFailed uint64 `json:"events_failed,omitempty"`

	Devices []Device        `json:"devices"`
	Alerts  []Alert         `json:"alerts"`
	Sync    edge.SyncStatus `json:"sync"`
	Store   edge.StoreStats `json:"store"`
	Outputs []string        `json:"outputs"`
	// OutputStats count each output's calls (actions, tests) and their
	// durations, for outputs called at least once since the start.
	OutputStats []edge.OutputStats `json:"output_stats,omitempty"`
	Clock       Clock              `json:"clock"`
	// Announcements are the announced openings not yet ended (a doctor's
	// visit): those doors open without alerting.
	Announcements []edge.Announced `json:"announcements,omitempty"`
}

// Device is one device's state on the status page.
type Device struct {
	edge.Device
	Online bool      `json:"online"`
	Since  time.Time `json:"since,omitzero"` // when Online last changed
	Reason string    `json:"reason,omitempty"`

	LastPoint string    `json:"last_point,omitempty"`
	LastValue float64   `json:"last_value"`
	LastText  string    `json:"last_text,omitempty"`
	LastUnit  string    `json:"last_unit,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Events    uint64    `json:"events"`

	// Stats are the driver's counters for the device (frames, garbage,
	// errors, reconnects, last error).
	Stats edge.DeviceStats `json:"stats"`
}

// Alert is one active (firing or acknowledged) alert.
type Alert struct {
	edge.Alert
	Device   string    `json:"device"`
	Location string    `json:"location,omitempty"`
	Since    time.Time `json:"since"` // when it fired
	Seq      uint64    `json:"seq,omitempty"`
}

// Clock is what the gateway knows of its wall clock.
type Clock struct {
	Trusted bool `json:"trusted"`
	// Skew is the central platform's time minus ours, when known.
	Skew      Seconds `json:"skew_s"`
	SkewKnown bool    `json:"skew_known"`
	Jumps     uint64  `json:"jumps"`
	// Floor is the last known good time (docs/time.md); BeforeFloor says
	// the clock reads before it (a box without an RTC that has not synced).
	Floor       time.Time `json:"floor,omitzero"`
	BeforeFloor bool      `json:"before_floor,omitempty"`
	// Boot is the boot id events are anchored in.
	Boot string `json:"boot,omitempty"`
}

// Seconds is a duration written in JSON as (fractional) seconds.
type Seconds float64

// Dur converts a time.Duration.
func Dur(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// D converts back.
func (s Seconds) D() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// OnlineCount counts the devices online.
func (s *Snapshot) OnlineCount() int {
	n := 0
	for i := range s.Devices {
		if s.Devices[i].Online {
			n++
		}
	}
	return n
}
