package edge

import (
	"context"
	"time"
)

// DeviceStats are a driver's counters for one device, shown on the status page.
type DeviceStats struct {
	Device     string `json:"device"`
	Frames     uint64 `json:"frames"`     // good frames / successful polls
	Garbage    uint64 `json:"garbage"`    // bytes or frames that did not decode
	Overlong   uint64 `json:"overlong"`   // frames longer than the limit
	Errors     uint64 `json:"errors"`     // timeouts, CRC errors, exceptions, write failures
	Reconnects uint64 `json:"reconnects"` // times the port was reopened
	LastError  string `json:"last_error,omitempty"`
	// ErrorsByCause splits Errors by cause ("timeout", "crc", ...), for
	// drivers that can tell; nil otherwise.
	ErrorsByCause map[string]uint64 `json:"errors_by_cause,omitempty"`
}

// StatsReporter is implemented by drivers and outputs that keep counters.
type StatsReporter interface {
	Stats() []DeviceStats
}

// SyncStatus is what the uplink reports to the status page and heartbeat.
type SyncStatus struct {
	Enabled        bool          `json:"enabled"`
	URL            string        `json:"url,omitempty"`
	Reachable      bool          `json:"reachable"`
	BacklogEvents  uint64        `json:"backlog_events"`
	BacklogBytes   int64         `json:"backlog_bytes"`
	OldestUnsynced time.Time     `json:"oldest_unsynced,omitzero"`
	LastSuccess    time.Time     `json:"last_success,omitzero"`
	LastError      string        `json:"last_error,omitempty"`
	LastErrorAt    time.Time     `json:"last_error_at,omitzero"`
	Successes      uint64        `json:"successes"`
	Failures       uint64        `json:"failures"`
	Quarantined    uint64        `json:"quarantined"` // batches rejected by central and set aside
	ClockSkew      time.Duration `json:"clock_skew_ns"`
	SkewKnown      bool          `json:"skew_known"`
	ConfigVersion  string        `json:"config_version,omitempty"`
	Paused         bool          `json:"paused,omitempty"` // demo's "network down" switch
	// State is what the uplink knows of the central platform now, one of
	// the Sync* states, and StateSince when it became so.
	State      string    `json:"state,omitempty"`
	StateSince time.Time `json:"state_since,omitzero"`
}

// States of the uplink (SyncStatus.State).
const (
	SyncConnecting  = "connecting"  // started, no exchange finished yet
	SyncOK          = "ok"          // the central platform answers, and the backlog moves
	SyncUnreachable = "unreachable" // no answer: network error, timeout, TLS failure, an answer not signed by the central platform
	SyncRejecting   = "rejecting"   // it answers, but refuses: 429, 5xx, 401 (key or clock), 403
	SyncStalled     = "stalled"     // it answers, but the backlog has not moved for the uplink's stall_after
	SyncPaused      = "paused"      // switched off (the demo's network switch)
)

// SyncStates lists every state, for /metrics.
var SyncStates = []string{SyncConnecting, SyncOK, SyncUnreachable, SyncRejecting, SyncStalled, SyncPaused}

// Controller is what the central platform's commands and the status page's
// buttons may do to a running gateway. The Gateway implements it.
type Controller interface {
	// ApplyOutput drives one output once (pulse, set, send).
	ApplyOutput(ctx context.Context, output string, op Op) error
	// AckAlert acknowledges an active alert; by names who did it.
	AckAlert(id, by string) error
	// Diagnostics builds a support bundle (a zip).
	Diagnostics(ctx context.Context) ([]byte, error)
	// ApplyConfig validates a whole config file in full and, only if it is
	// valid, applies it (drivers and rules reload without losing events) and
	// keeps it on disk as the last good config. An invalid one leaves the
	// running config untouched and returns an error naming file:line.
	ApplyConfig(ctx context.Context, yaml []byte, version string) error
}

// OutputStats are one output's counters for /metrics and the status page:
// every Apply, whether a rule's action, a pulse's off or a test.
type OutputStats struct {
	Name      string `json:"name"`
	OK        uint64 `json:"ok"`
	Failed    uint64 `json:"failed"`
	LastError string `json:"last_error,omitempty"`
	// The duration of each Apply, as a Prometheus histogram: Buckets[i]
	// counts the calls that took at most LatencyBuckets[i] seconds
	// (cumulative); Count and SumSeconds cover all of them.
	Count      uint64   `json:"count"`
	SumSeconds float64  `json:"sum_seconds"`
	Buckets    []uint64 `json:"buckets"`
}

// LatencyBuckets are the upper bounds, in seconds, of OutputStats.Buckets:
// from a GPIO line (microseconds) to an SMS through a slow modem.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Announced is an announced opening of a device (a doctor's visit, a
// delivery) that has not ended: its door opening is recorded, and rules
// that test announced(device) do not alert.
type Announced struct {
	Device string    `json:"device"`
	Until  time.Time `json:"until"`
	By     string    `json:"by,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Announcer takes announced openings: from the status page, `edgegw
// announce`, and the central platform. The Gateway implements it; callers
// find it by type assertion on a Controller or a status Provider.
type Announcer interface {
	// Announce expects device to open during d from now (0 withdraws an
	// announcement); by says who, note why. The announcement is an event
	// in the log. An unknown device is an error.
	Announce(ctx context.Context, device string, d time.Duration, by, note string) error
	// Announcements lists the windows not yet ended.
	Announcements() []Announced
}
