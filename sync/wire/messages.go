package wire

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
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
	ConfigVersion  string    `json:"config_version,omitempty"`
	Quarantined    uint64    `json:"quarantined,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	// ClockSkew is the gateway's clock minus the server's, measured from
	// the Date header of an earlier response (SkewKnown says whether it was).
	ClockSkewMillis int64 `json:"clock_skew_ms"`
	SkewKnown       bool  `json:"skew_known"`
}

// HeartbeatResponse is the 200 answer to POST /v1/heartbeat. The gateway
// measures its clock skew from ServerTime (or the Date header) and the
// request's round trip.
type HeartbeatResponse struct {
	ServerTime      time.Time `json:"server_time"`
	ConfigVersion   string    `json:"config_version,omitempty"`   // newest bundle for this gateway
	PendingCommands int       `json:"pending_commands,omitempty"` // commands without a result
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

// Error codes (ErrorResponse.Code) with their HTTP status.
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
	CodeTooLarge     = "too_large"       // 413: body or decompressed body too large
	CodeUnsupported  = "unsupported"     // 415: body not gzip
	CodeOverloaded   = "overloaded"      // 429/503: try later (Retry-After)
	CodeInternal     = "internal"        // 500: storage failed; nothing was acknowledged
)

// Class is what a client does with an answer.
type Class int

const (
	ClassOK        Class = iota // 2xx (and 304): done
	ClassTransient              // 408, 429, 5xx, network errors: retry later, honour Retry-After
	ClassRejected               // other 4xx: the request will never succeed; quarantine it
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

// Classify maps an HTTP status to what the client does.
func Classify(status int) Class {
	switch {
	case status >= 200 && status < 300, status == http.StatusNotModified:
		return ClassOK
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return ClassTransient
	case status < 200, status >= 300 && status < 400:
		return ClassTransient // unexpected: a proxy in the way; retry
	default:
		return ClassRejected
	}
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date) relative to
// now; ok is false when absent or unparsable. Callers cap the result.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
