package wire

import (
	"time"
)

// Event kinds as they appear on the wire (edge.Kind's names). A receiver must
// keep events of kinds it does not know: new kinds are added without a new
// protocol version.
const (
	KindReading = "reading"
	KindState   = "state"
	KindAlert   = "alert"
	KindStatus  = "status"
	KindGap     = "gap"
	KindAction  = "action"
)

// Event is one event of a gateway's log, as sent to the central platform. It
// mirrors the gateway's own event record field for field; (gateway, Epoch,
// Seq) identifies it. Time travels with millisecond precision.
//
// In JSON (the admin API), Epoch is a decimal string because a random 64-bit
// number does not fit a JSON number in every language.
type Event struct {
	Epoch        uint64    `json:"epoch,string"`
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"ts"`
	ClockTrusted bool      `json:"trusted"`
	// TimeCorrected is Time corrected by the central: when the gateway's
	// clock was not trusted and the central knows when the event's boot
	// started (from a heartbeat), boot start + Mono. Never sent by a
	// gateway; set by the receiver when it serves events (docs/time.md).
	TimeCorrected time.Time `json:"ts_corrected,omitzero"`
	// Boot and MonoMillis anchor the event in the gateway's boot: the
	// boot's id and the milliseconds since it started on a clock the wall
	// clock's jumps do not move. Empty from gateways before them.
	Boot       string `json:"boot,omitempty"`
	MonoMillis int64  `json:"mono_ms,omitempty"`
	Kind       string `json:"kind"`
	Priority   uint8  `json:"prio"`

	Device  string  `json:"dev,omitempty"`
	Point   string  `json:"pt,omitempty"`
	Value   float64 `json:"v,omitempty"`
	Unit    string  `json:"unit,omitempty"`
	Quality uint8   `json:"q,omitempty"`
	Text    string  `json:"text,omitempty"`
	// Location is the device's location in the gateway's config when the
	// event was recorded: compound/building/unit/household (at most
	// MaxLocation bytes). Events of older gateways have none.
	Location string `json:"loc,omitempty"`

	Online *bool   `json:"online,omitempty"` // status events: the device is online
	Alert  *Alert  `json:"alert,omitempty"`  // alert events
	Gap    *Gap    `json:"gap,omitempty"`    // gap events
	Action *Action `json:"action,omitempty"` // action events
}

// Alert states.
const (
	AlertFiring       = "firing"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert is the payload of an alert event: one change of one alert.
type Alert struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	State    string `json:"state"` // firing, acknowledged, resolved
	Severity string `json:"severity"`
	Message  string `json:"message"`
	By       string `json:"by,omitempty"`
	Cause    uint64 `json:"cause,omitempty"` // seq of the event that caused the change
}

// Gap is the payload of a gap event: events From..To (inclusive) of Epoch
// are missing; Count says how many of them.
type Gap struct {
	Epoch  uint64 `json:"epoch,string,omitempty"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Count  uint64 `json:"count"`
	Reason string `json:"reason"`
}

// Action is the payload of an action event.
type Action struct {
	Rule   string `json:"rule,omitempty"`
	Output string `json:"output,omitempty"`
	Result string `json:"result"` // ok, failed, dropped
	Error  string `json:"error,omitempty"`
}

// BoolPtr returns a pointer to b, for Event.Online.
func BoolPtr(b bool) *bool { return &b }
