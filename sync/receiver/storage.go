package receiver

import (
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// ErrNotFound is returned by Storage for a gateway, config or command that
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrEventTooLarge is returned by Storage.StoreBatch when one event is too
// large to store; nothing of the batch is stored. The receiver answers 413.
var ErrEventTooLarge = errors.New("event too large")

// ErrExists is returned by Storage.AddGateway for an id already taken.
var ErrExists = errors.New("already exists")

// Storage is where the receiver keeps gateways, events and the downlink.
// OpenBadger returns the default, embedded implementation; a central
// platform may bring its own. Every method is safe for concurrent use.
type Storage interface {
	// AddGateway records a new gateway (ErrExists if its id is taken).
	AddGateway(g Gateway) error
	// Gateway returns one gateway with its key (ErrNotFound).
	Gateway(id string) (Gateway, error)
	// Gateways returns every gateway with its status, sorted by id.
	Gateways() ([]GatewayStatus, error)
	// UpdateGateway changes gateway id with update (ErrNotFound), atomic
	// against other updates (update may run more than once), and returns
	// it as stored. A new Place applies to the events stored after it;
	// those stored before keep the path they were stored under, and the
	// store counts the move in Moves (gwadmin.go).
	UpdateGateway(id string, update func(g *Gateway) error) (Gateway, error)

	// StoreBatch stores the events of gateway not stored before, keyed by
	// (gateway, epoch, seq), and returns how many were new and how many
	// duplicates. It returns only once they are durable (fsynced).
	StoreBatch(gateway string, events []wire.Event, received time.Time) (stored, duplicates int, err error)
	// Events returns up to limit stored events with a cursor greater than
	// after, in arrival order, of one gateway or (gateway "") of all; next
	// is the cursor to continue from.
	Events(gateway string, after uint64, limit int) (events []StoredEvent, next uint64, err error)
	// ActiveAlerts returns the latest state of every alert not resolved, of
	// one gateway or (gateway "") of all.
	ActiveAlerts(gateway string) ([]ActiveAlert, error)

	// PutHeartbeat records a gateway's latest heartbeat.
	PutHeartbeat(gateway string, hb wire.Heartbeat, at time.Time) error
	// PutConfig stores the gateway's config bundle (replacing the last).
	PutConfig(gateway string, b wire.ConfigBundle) error
	// Config returns the gateway's config bundle (ErrNotFound).
	Config(gateway string) (wire.ConfigBundle, error)
	// AddCommand queues a command, giving it the next id.
	AddCommand(gateway string, c wire.Command) (wire.Command, error)
	// Commands returns up to limit commands of gateway with id > after,
	// oldest first, with their results; pendingOnly leaves out those with a
	// result.
	Commands(gateway string, after uint64, limit int, pendingOnly bool) ([]CommandEntry, error)
	// PutResult records the result of command id; a second result is
	// ignored (first is false). ErrNotFound for an unknown command. Its
	// attachment is kept apart: Commands returns results without it (and
	// its size in CommandEntry.AttachmentBytes), Attachment returns it.
	PutResult(gateway string, id uint64, r wire.CommandResult) (first bool, err error)
	// Attachment returns the attachment of command id's result
	// (ErrNotFound: no result, or one without an attachment).
	Attachment(gateway string, id uint64) ([]byte, error)

	// PutFile stores a file the gateway's events name (a camera picture),
	// replacing one of the same name; name is wire.ValidFileName.
	PutFile(gateway, name string, b []byte) error
	// File returns a file of gateway stored by PutFile (ErrNotFound).
	File(gateway, name string) ([]byte, error)

	Close() error
}

// Gateway is a gateway known to the receiver.
type Gateway struct {
	ID       string    `json:"id"`
	Key      wire.Key  `json:"key"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled,omitempty"`
	// Place is where the gateway is: "district/street/committee/compound"
	// codes (ParsePlace), "_" for a level not given; "" when unplaced.
	Place string `json:"place,omitempty"`
	// Moves counts the changes of Place: a store that keys events by place
	// (JetStream) then checks a (gateway, epoch) across places.
	Moves int `json:"moves,omitempty"`
}

// GatewayStatus is what the admin API lists of a gateway (never its key).
type GatewayStatus struct {
	ID              string          `json:"id"`
	Place           string          `json:"place,omitempty"`
	Created         time.Time       `json:"created"`
	Disabled        bool            `json:"disabled,omitempty"`
	Events          uint64          `json:"events"` // events stored
	LastBatchAt     time.Time       `json:"last_batch_at,omitzero"`
	LastHeartbeat   *wire.Heartbeat `json:"last_heartbeat,omitempty"`
	HeartbeatAt     time.Time       `json:"heartbeat_at,omitzero"`
	ClockSkewMillis int64           `json:"clock_skew_ms"` // from the last heartbeat
	SkewKnown       bool            `json:"skew_known"`
	ConfigVersion   string          `json:"config_version,omitempty"` // newest bundle queued
}

// StoredEvent is an event as the receiver keeps it.
type StoredEvent struct {
	Cursor  uint64 `json:"cursor"` // arrival order, across all gateways
	Gateway string `json:"gateway"`
	// Path is the event's full place: the gateway's district/street/
	// committee/compound when stored, then the building, unit and
	// household of the event's device as far as its location names them
	// (EventPath); "" for an unplaced gateway's events without a location.
	Path string `json:"path,omitempty"`
	// Building, Unit and Household are the device's, from its location in
	// the gateway's config when the event was recorded (event.loc).
	Building  string    `json:"building,omitempty"`
	Unit      string    `json:"unit,omitempty"`
	Household string    `json:"household,omitempty"`
	Received  time.Time `json:"received"`
	// Event is the event as JSON (wire.Event's encoding); Decode parses it.
	Event json.RawMessage `json:"event"`
}

// Decode parses the stored event.
func (s *StoredEvent) Decode() (wire.Event, error) {
	var e wire.Event
	err := json.Unmarshal(s.Event, &e)
	return e, err
}

// ActiveAlert is the latest state of an alert that is not resolved.
type ActiveAlert struct {
	Gateway string     `json:"gateway"`
	Epoch   uint64     `json:"epoch,string"`
	Seq     uint64     `json:"seq"`
	Time    time.Time  `json:"time"`
	Device  string     `json:"dev,omitempty"`
	Point   string     `json:"pt,omitempty"`
	Alert   wire.Alert `json:"alert"`
}

// CommandEntry is a queued command and its result, if any. The result's
// attachment is not in it (Storage.Attachment has it): its size is.
type CommandEntry struct {
	Gateway         string              `json:"gateway"`
	Command         wire.Command        `json:"command"`
	Result          *wire.CommandResult `json:"result"`
	AttachmentBytes int                 `json:"attachment_bytes,omitempty"`
}

var gatewayIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidGatewayID reports whether id is a valid gateway id:
// 1 to 64 of A-Z a-z 0-9 . _ -
func ValidGatewayID(id string) bool { return gatewayIDRe.MatchString(id) }
