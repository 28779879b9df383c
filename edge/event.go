package edge

import (
	"fmt"
	"time"
)

// Kind says what an Event records.
type Kind uint8

// Event kinds. The numeric values are part of the on-disk format: append only.
const (
	KindReading Kind = 1 // a sampled value of a point
	KindState   Kind = 2 // a contact opened or closed, a discrete state changed
	KindAlert   Kind = 3 // an alert was raised, acknowledged or resolved
	KindStatus  Kind = 4 // a device went online or offline
	KindGap     Kind = 5 // events were evicted or lost; Gap says which and why
	KindAction  Kind = 6 // an action was dropped or failed (or ran, when asked to record it)
	// KindAnnounce: an opening of Device is expected (a doctor's visit, a
	// delivery) for Value seconds from Time; 0 withdraws it. Point says who
	// announced it, Text why. See Announcement.
	KindAnnounce Kind = 7
)

var kindNames = map[Kind]string{
	KindReading: "reading", KindState: "state", KindAlert: "alert",
	KindStatus: "status", KindGap: "gap", KindAction: "action",
	KindAnnounce: "announce",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown event kind %q", s)
}

func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Priority orders events for eviction (lowest evicted first) and for upload
// after an outage (highest sent first).
type Priority uint8

const (
	PriorityLow    Priority = 0 // periodic readings
	PriorityNormal Priority = 1 // device status, action records
	PriorityHigh   Priority = 2 // state changes (a door opened)
	PriorityAlert  Priority = 3 // alerts and gap records: evicted last
)

// DefaultPriority is the priority an event of kind k gets when its producer
// does not set one.
func DefaultPriority(k Kind) Priority {
	switch k {
	case KindAlert, KindGap:
		return PriorityAlert
	case KindState, KindAnnounce:
		return PriorityHigh
	case KindStatus, KindAction:
		return PriorityNormal
	default:
		return PriorityLow
	}
}

// Quality of a reading, after OPC UA's good/uncertain/bad.
type Quality uint8

const (
	QualityGood      Quality = 0
	QualityUncertain Quality = 1
	QualityBad       Quality = 2
)

// Event is one record of the log. Drivers fill Kind, Device, Point, Value,
// Unit, Quality, Text; the core fills Epoch, Seq, Time, ClockTrusted, Boot,
// Mono, Location and, when zero, Priority.
type Event struct {
	Epoch        uint64    `json:"epoch"`
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"ts"`
	ClockTrusted bool      `json:"trusted"`
	// Boot and Mono anchor the event in the machine's boot: the boot's id
	// and the time since it started (to the millisecond), on a clock the
	// wall clock's jumps do not move. The central corrects an untrusted
	// Time with them (docs/time.md). Empty for events recorded before
	// gateways kept them, and where no BootSource is given.
	Boot     string        `json:"boot,omitempty"`
	Mono     time.Duration `json:"mono_ns,omitempty"`
	Kind     Kind          `json:"kind"`
	Priority Priority      `json:"prio"`

	Device  string  `json:"dev,omitempty"`
	Point   string  `json:"pt,omitempty"`
	Value   float64 `json:"v,omitempty"`
	Unit    string  `json:"unit,omitempty"`
	Quality Quality `json:"q,omitempty"`
	// Text is the state name of a state change ("open", "closed", "FALL"),
	// the reason of a status, the message of an alert.
	Text string `json:"text,omitempty"`
	// Location is the location of Device in the config when the event was
	// recorded (Device.Location: compound/building/unit/household), so the
	// central can place the event down to the household. The gateway sets
	// it where events are recorded; drivers leave it empty.
	Location string `json:"loc,omitempty"`

	Online *bool         `json:"online,omitempty"` // KindStatus: the device is online
	Alert  *Alert        `json:"alert,omitempty"`  // KindAlert
	Gap    *Gap          `json:"gap,omitempty"`    // KindGap
	Action *ActionRecord `json:"action,omitempty"` // KindAction
}

// AlertState is where an alert is in firing -> acknowledged -> resolved.
type AlertState string

const (
	AlertFiring       AlertState = "firing"
	AlertAcknowledged AlertState = "acknowledged"
	AlertResolved     AlertState = "resolved"
)

// Alert is the payload of a KindAlert event: one change of one alert.
type Alert struct {
	ID       string     `json:"id"`   // stable for the alert's life: rule + device + first seq
	Rule     string     `json:"rule"` // rule name
	State    AlertState `json:"state"`
	Severity string     `json:"severity"`
	Message  string     `json:"message"`
	By       string     `json:"by,omitempty"`    // who acknowledged: "local:<user>", "central:<id>"
	Cause    uint64     `json:"cause,omitempty"` // seq of the event that caused this change
}

// Gap is the payload of a KindGap event: events [From, To] of Epoch are not
// (or no longer) in the log.
type Gap struct {
	Epoch  uint64 `json:"epoch,omitempty"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Count  uint64 `json:"count"`  // how many events in [From, To] are missing
	Reason string `json:"reason"` // "evicted: store cap", "rejected by central: ...", "lost: ..."
}

// ActionRecord is the payload of a KindAction event.
type ActionRecord struct {
	Rule   string `json:"rule,omitempty"`
	Output string `json:"output,omitempty"`
	Result string `json:"result"` // "ok", "failed", "dropped"
	Error  string `json:"error,omitempty"`
}

// IsOnline reports whether a status event says the device is online.
func (e *Event) IsOnline() bool { return e.Online != nil && *e.Online }

// Reading makes a reading event.
func Reading(device, point string, v float64, unit string) Event {
	return Event{Kind: KindReading, Device: device, Point: point, Value: v, Unit: unit}
}

// StateChange makes a state-change event; v is 1 for an active contact
// (open door, closed alarm relay) and 0 otherwise.
func StateChange(device, point, state string, v float64) Event {
	return Event{Kind: KindState, Device: device, Point: point, Text: state, Value: v}
}

// MaxAnnounce bounds an announced window: an opening announced for longer
// is a mistake, not a visit.
const MaxAnnounce = 7 * 24 * time.Hour

// Announcement makes an announced-opening event: device is expected to
// open during d from the event's time (d = 0 withdraws an announcement);
// by says who ("local:cli", "central:op7"), note why ("doctor's visit").
func Announcement(device string, d time.Duration, by, note string) Event {
	return Event{Kind: KindAnnounce, Device: device, Point: by, Value: d.Seconds(), Unit: "s", Text: note}
}

// AnnouncedFor is the window of an announcement event.
func (e *Event) AnnouncedFor() time.Duration {
	if e.Kind != KindAnnounce || !(e.Value > 0) {
		return 0
	}
	return min(time.Duration(e.Value*float64(time.Second)), MaxAnnounce)
}

// DeviceStatus makes an online/offline event with its reason.
func DeviceStatus(device string, online bool, reason string) Event {
	return Event{Kind: KindStatus, Device: device, Online: &online, Text: reason}
}
