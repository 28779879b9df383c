package wire

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BatchResponse is the 200 answer to POST /v1/batches. Every event of the
// batch is durably stored when it is sent: Stored of them are new,
// Duplicates were stored before (by an earlier attempt). Acked lists the
// (epoch, seq) ranges now stored; a gateway may move its cursor past every
// event the ranges cover.
type BatchResponse struct {
	Received   int     `json:"received"`
	Stored     int     `json:"stored"`
	Duplicates int     `json:"duplicates"`
	Acked      []Range `json:"acked"`
}

// Range is the sequence numbers From..To (inclusive) of one epoch.
type Range struct {
	Epoch uint64 `json:"epoch,string"`
	From  uint64 `json:"from"`
	To    uint64 `json:"to"`
}

// AckRanges returns the fewest ranges that cover exactly the (epoch, seq) of
// events, sorted by epoch then seq.
func AckRanges(events []Event) []Range {
	type id struct{ ep, seq uint64 }
	ids := make([]id, len(events))
	for i := range events {
		ids[i] = id{events[i].Epoch, events[i].Seq}
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].ep != ids[j].ep {
			return ids[i].ep < ids[j].ep
		}
		return ids[i].seq < ids[j].seq
	})
	var out []Range
	for _, x := range ids {
		if n := len(out); n > 0 && out[n-1].Epoch == x.ep && (x.seq == out[n-1].To || x.seq == out[n-1].To+1) {
			out[n-1].To = x.seq
			continue
		}
		out = append(out, Range{Epoch: x.ep, From: x.seq, To: x.seq})
	}
	return out
}

// Covers reports whether the response acknowledges event (epoch, seq).
func (r *BatchResponse) Covers(epoch, seq uint64) bool {
	for _, a := range r.Acked {
		if a.Epoch == epoch && a.From <= seq && seq <= a.To {
			return true
		}
	}
	return false
}

// CoversAll reports whether the response acknowledges every event sent.
func (r *BatchResponse) CoversAll(events []Event) bool {
	for i := range events {
		if !r.Covers(events[i].Epoch, events[i].Seq) {
			return false
		}
	}
	return true
}

// ConfigBundle is the 200 answer to GET /v1/config: the gateway's whole
// config file. ETag is also sent as the ETag header; the gateway sends it
// back in If-None-Match and gets 304 while it is current.
type ConfigBundle struct {
	Version string    `json:"version"`
	ETag    string    `json:"etag"`
	YAML    string    `json:"yaml"`
	Created time.Time `json:"created,omitzero"`
}

// Command types. Args are strings; the ones each type uses are listed.
const (
	CmdPlayVoice       = "play_voice"       // output, track (number or name)
	CmdPulseOutput     = "pulse_output"     // output, duration (Go duration, "5s")
	CmdSetOutput       = "set_output"       // output, value ("on", "off", a number or text)
	CmdAckAlert        = "ack_alert"        // id, by (optional)
	CmdSendDiagnostics = "send_diagnostics" // none: the result carries the bundle
	CmdApplyConfig     = "apply_config"     // none: fetch GET /v1/config now
	CmdAnnounce        = "announce"         // device, for (Go duration; "0s" withdraws), by, note (optional)
)

// Command is one downlink command. IDs increase per gateway.
type Command struct {
	ID      uint64            `json:"id"`
	Type    string            `json:"type"`
	Args    map[string]string `json:"args,omitempty"`
	Created time.Time         `json:"created"`
}

// CommandList is the 200 answer to GET /v1/commands?after=<id>: the
// commands with ID > after that have no result yet, oldest first.
type CommandList struct {
	Commands []Command `json:"commands"`
}

// CommandResult is the body of POST /v1/commands/{id}/result.
type CommandResult struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"` // any JSON the command returns
	// Attachment carries bytes (send_diagnostics: the zip), base64 in JSON.
	Attachment []byte    `json:"attachment,omitempty"`
	Finished   time.Time `json:"finished,omitzero"`
}

// Heartbeat is the body of POST /v1/heartbeat: the gateway's status summary.
type Heartbeat struct {
	Version        string    `json:"version"` // gateway software version
	Uptime         float64   `json:"uptime_s"`
	Time           time.Time `json:"time"` // the gateway's clock when sent
	ClockTrusted   bool      `json:"clock_trusted"`
	BacklogEvents  uint64    `json:"backlog_events"`
	BacklogBytes   int64     `json:"backlog_bytes"`
	OldestUnsynced time.Time `json:"oldest_unsynced,omitzero"`
	DevicesOnline  int       `json:"devices_online"`
	DevicesTotal   int       `json:"devices_total"`
	ActiveAlerts   int       `json:"active_alerts"`
	StoreBytes     int64     `json:"store_bytes"`
	StoreCap       int64     `json:"store_cap"`
	ConfigVersion  string    `json:"config_version,omitempty"` // the bundle applied
	// ConfigError says why the newest bundle was refused (empty: applied).
	ConfigError string `json:"config_error,omitempty"`
	Quarantined uint64 `json:"quarantined,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	// ClockSkew is the gateway's clock minus the server's, measured from
	// the Date header of an earlier response (SkewKnown says whether it was).
	ClockSkewMillis int64 `json:"clock_skew_ms"`
	SkewKnown       bool  `json:"skew_known"`
	// Update is the state of self-update (absent from gateways before it).
	Update *UpdateStatus `json:"update,omitempty"`
	// BootID and MonoMillis are the gateway's boot and the milliseconds
	// since it started when the heartbeat was sent (Event.Boot,
	// Event.MonoMillis): the central learns the boot's start from them
	// (its receive time - MonoMillis). Absent from gateways before them.
	BootID     string `json:"boot_id,omitempty"`
	MonoMillis int64  `json:"mono_ms,omitempty"`
}

// HeartbeatResponse is the 200 answer to POST /v1/heartbeat. The gateway
// measures its clock skew from ServerTime (or the Date header) and the
// request's round trip.
type HeartbeatResponse struct {
	ServerTime      time.Time `json:"server_time"`
	ConfigVersion   string    `json:"config_version,omitempty"`   // newest bundle for this gateway
	PendingCommands int       `json:"pending_commands,omitempty"` // commands without a result
	// Release is the release assigned to this gateway (absent: none).
	Release *ReleaseOffer `json:"release,omitempty"`
}

// ClockSkew estimates local minus server time from a response: the server's
// time (resp's Date header, second precision) against the midpoint of the
// request's send and receive times. ok is false without a Date header.
func ClockSkew(h http.Header, sent, received time.Time) (skew time.Duration, ok bool) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return 0, false
	}
	mid := sent.Add(received.Sub(sent) / 2)
	// Date truncates to the second: the server's time was in [d, d+1s).
	return mid.Sub(d.Add(500 * time.Millisecond)), true
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Error codes (ErrorResponse.Code). Errors holds the status each is
// answered with and what a gateway does with it.
const (
	CodeBadRequest   = "bad_request"     // 400: malformed headers or body
	CodeBadBatch     = "bad_batch"       // 400: the batch does not decode
	CodeUnauthorized = "unauthorized"    // 401: missing or bad signature
	CodeClockWindow  = "clock_window"    // 401: timestamp outside the replay window
	CodeReplayed     = "replayed"        // 401: signature seen before
	CodeUnknownGW    = "unknown_gateway" // 401: no such gateway
	CodeForbidden    = "forbidden"       // 403: gateway disabled / admin token wrong
	CodeNotFound     = "not_found"       // 404
	CodeMethod       = "method"          // 405
	CodeConflict     = "conflict"        // 409: admin API: the id exists
	CodeTooLarge     = "too_large"       // 413: body, decompressed body or one event too large
	CodeUnsupported  = "unsupported"     // 415: body not gzip
	CodeBadRange     = "bad_range"       // 416: GET /v1/releases: no single range within the artifact and MaxArtifactChunk
	CodeBadEvent     = "bad_event"       // 422: an event the receiver will not store (its time is impossible)
	CodeRateLimited  = "rate_limited"    // 429: this gateway sends too fast (Retry-After)
	CodeOverloaded   = "overloaded"      // 503: the receiver is at its memory budget (Retry-After)
	CodeInternal     = "internal"        // 500: storage failed; nothing was acknowledged
)

// ErrorCode is one error of the protocol: its code, the HTTP status a
// receiver answers it with, and the class a gateway gives that status.
type ErrorCode struct {
	Code   string
	Status int
	Class  Class
}

// Errors is the protocol's error table (PROTOCOL.md §7). A receiver takes
// the status of every error it answers from here (StatusOf), and a gateway
// classifies every answer with Classify, which agrees with this table
// (tested): one table for both sides.
var Errors = []ErrorCode{
	{CodeBadRequest, http.StatusBadRequest, ClassRejected},
	{CodeBadBatch, http.StatusBadRequest, ClassRejected},
	{CodeUnauthorized, http.StatusUnauthorized, ClassTransient},
	{CodeClockWindow, http.StatusUnauthorized, ClassTransient},
	{CodeReplayed, http.StatusUnauthorized, ClassTransient},
	{CodeUnknownGW, http.StatusUnauthorized, ClassTransient},
	{CodeForbidden, http.StatusForbidden, ClassTransient},
	{CodeNotFound, http.StatusNotFound, ClassRejected},
	{CodeMethod, http.StatusMethodNotAllowed, ClassRejected},
	{CodeConflict, http.StatusConflict, ClassRejected},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, ClassRejected},
	{CodeUnsupported, http.StatusUnsupportedMediaType, ClassRejected},
	{CodeBadRange, http.StatusRequestedRangeNotSatisfiable, ClassRejected},
	{CodeBadEvent, http.StatusUnprocessableEntity, ClassRejected},
	{CodeRateLimited, http.StatusTooManyRequests, ClassTransient},
	{CodeOverloaded, http.StatusServiceUnavailable, ClassTransient},
	{CodeInternal, http.StatusInternalServerError, ClassTransient},
}

// StatusOf is the HTTP status of error code (500 for a code not in Errors).
func StatusOf(code string) int {
	for _, e := range Errors {
		if e.Code == code {
			return e.Status
		}
	}
	return http.StatusInternalServerError
}

// Class is what a client does with an answer.
type Class int

const (
	ClassOK        Class = iota // 2xx (and 304): done
	ClassTransient              // no answer, 408, 429, 5xx, 401, 403, 1xx/3xx: retry later, honour Retry-After
	ClassRejected               // other 4xx: the request will never succeed as it is; quarantine it
)

func (c Class) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassTransient:
		return "transient"
	default:
		return "rejected"
	}
}

// Classify maps an HTTP status to what the client does. 401 and 403 are
// transient: a wrong key, a clock outside the replay window or a disabled
// gateway is a configuration to fix, and quarantining the data for it would
// lose the data; the gateway keeps it and retries with backoff.
func Classify(status int) Class {
	switch {
	case status >= 200 && status < 300, status == http.StatusNotModified:
		return ClassOK
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return ClassTransient
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ClassTransient
	case status < 200, status >= 300 && status < 400:
		return ClassTransient // unexpected: a proxy in the way; retry
	default:
		return ClassRejected
	}
}

// MaxRetryAfter caps what RetryAfter returns: a day.
const MaxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header (delta seconds or an HTTP date)
// relative to now; ok is false when absent or unparsable. A date in the past
// is 0; no answer is more than MaxRetryAfter. Callers cap the result further.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
