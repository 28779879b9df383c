package receiver

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Admin API request and answer bodies (PROTOCOL.md §9).
type (
	// EventsPage is the answer to GET /v1/admin/events.
	EventsPage struct {
		Events []StoredEvent `json:"events"`
		Next   uint64        `json:"next"`           // pass as after= to continue
		Last   uint64        `json:"last,omitempty"` // the newest cursor in the store, when the store knows it
	}
	// AddGatewayRequest is the body of POST /v1/admin/gateways.
	AddGatewayRequest struct {
		ID    string `json:"id"`
		Place string `json:"place,omitempty"` // district/street/committee/compound codes
	}
	// AddGatewayResponse is its answer: the new gateway's key, shown once.
	AddGatewayResponse struct {
		ID    string   `json:"id"`
		Key   wire.Key `json:"key"`
		Place string   `json:"place,omitempty"`
	}
	// PutConfigRequest is the body of POST /v1/admin/config.
	PutConfigRequest struct {
		Gateway string `json:"gateway"`
		YAML    string `json:"yaml"`
		Version string `json:"version,omitempty"` // default: the last numeric version + 1
	}
	// AddCommandRequest is the body of POST /v1/admin/commands.
	AddCommandRequest struct {
		Gateway string            `json:"gateway"`
		Type    string            `json:"type"`
		Args    map[string]string `json:"args,omitempty"`
	}
)

// CommandTypes are the command types the admin API queues.
var CommandTypes = []string{wire.CmdPlayVoice, wire.CmdPulseOutput, wire.CmdSetOutput,
	wire.CmdAckAlert, wire.CmdSendDiagnostics, wire.CmdApplyConfig, wire.CmdAnnounce}

// admin wraps an admin endpoint: with an admin token configured, it is
// required; without one, only loopback clients are served.
func (r *Receiver) admin(h func(w http.ResponseWriter, req *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if tok := r.opts.AdminToken; tok != "" {
			got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok)) != 1 {
				r.fail(w, r.log, req, nil, r.clk.Now(), wire.CodeForbidden, "admin API: wrong or missing admin token")
				return
			}
		} else if !isLoopback(req.RemoteAddr) {
			r.fail(w, r.log, req, nil, r.clk.Now(), wire.CodeForbidden,
				"admin API: only from loopback unless the receiver has an admin token")
			return
		}
		h(w, req)
	}
}

func (r *Receiver) adminOK(w http.ResponseWriter, req *http.Request, v any) {
	writeJSON(w, req, nil, r.clk.Now(), http.StatusOK, v)
}

func (r *Receiver) adminErr(w http.ResponseWriter, req *http.Request, code, msg string) {
	writeError(w, req, nil, r.clk.Now(), code, msg)
}

func (r *Receiver) adminEvents(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	after, err := parseUint(q.Get("after"), 0)
	if err != nil {
		r.adminErr(w, req, wire.CodeBadRequest, "after: "+err.Error())
		return
	}
	limit, err := parseUint(q.Get("limit"), 1000)
	if err != nil || limit == 0 {
		r.adminErr(w, req, wire.CodeBadRequest, "limit: want a number from 1 to 10000")
		return
	}
	var events []StoredEvent
	var next uint64
	if qr, ok := r.store.(Querier); ok {
		query := Query{Scope: q.Get("scope"), Gateway: q.Get("gateway"), After: after, Limit: int(min(limit, 10000))}
		if _, err := ParseScope(query.Scope); err != nil {
			r.adminErr(w, req, wire.CodeBadRequest, err.Error())
			return
		}
		for _, tv := range []struct {
			name string
			t    *time.Time
		}{{"since", &query.Since}, {"until", &query.Until}} {
			if v := q.Get(tv.name); v != "" {
				if *tv.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
					r.adminErr(w, req, wire.CodeBadRequest, tv.name+": want an RFC 3339 time: "+err.Error())
					return
				}
			}
		}
		events, next, err = qr.Query(query)
	} else {
		if q.Get("scope") != "" || q.Get("since") != "" || q.Get("until") != "" {
			r.adminErr(w, req, wire.CodeBadRequest, "scope, since and until need the JetStream store (this central runs the Badger store)")
			return
		}
		events, next, err = r.store.Events(q.Get("gateway"), after, int(min(limit, 10000)))
	}
	if errors.Is(err, ErrUnavailable) {
		r.adminErr(w, req, wire.CodeOverloaded, "list events: "+err.Error())
		return
	}
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list events: "+err.Error())
		return
	}
	if events == nil {
		events = []StoredEvent{}
	}
	r.correctEvents(events)
	page := EventsPage{Events: events, Next: next}
	if lc, ok := r.store.(interface{ LastCursor() uint64 }); ok {
		page.Last = lc.LastCursor()
	}
	r.adminOK(w, req, page)
}

func parseUint(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

func (r *Receiver) adminAlerts(w http.ResponseWriter, req *http.Request) {
	alerts, err := r.store.ActiveAlerts(req.URL.Query().Get("gateway"))
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list alerts: "+err.Error())
		return
	}
	if alerts == nil {
		alerts = []ActiveAlert{}
	}
	r.adminOK(w, req, map[string]any{"alerts": alerts})
}

func (r *Receiver) adminGateways(w http.ResponseWriter, req *http.Request) {
	gws, err := r.store.Gateways()
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list gateways: "+err.Error())
		return
	}
	if gws == nil {
		gws = []GatewayStatus{}
	}
	r.adminOK(w, req, map[string]any{"gateways": gws})
}

// readAdmin decodes a JSON admin body strictly.
func (r *Receiver) readAdmin(w http.ResponseWriter, req *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBody))
	if err != nil {
		r.adminErr(w, req, wire.CodeTooLarge, "read body: "+err.Error())
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r.adminErr(w, req, wire.CodeBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

func (r *Receiver) adminAddGateway(w http.ResponseWriter, req *http.Request) {
	var in AddGatewayRequest
	if !r.readAdmin(w, req, &in) {
		return
	}
	key, err := AddPlacedGateway(r.store, in.ID, in.Place, r.clk.Now())
	switch {
	case errors.Is(err, ErrExists):
		r.adminErr(w, req, wire.CodeConflict, err.Error())
	case err != nil:
		r.adminErr(w, req, wire.CodeBadRequest, err.Error())
	default:
		r.adminOK(w, req, AddGatewayResponse{ID: in.ID, Key: key, Place: in.Place})
	}
}

// knownGateway answers 404 and returns false when id is not a gateway.
func (r *Receiver) knownGateway(w http.ResponseWriter, req *http.Request, id string) bool {
	if _, err := r.store.Gateway(id); errors.Is(err, ErrNotFound) {
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("unknown gateway %q", id))
		return false
	} else if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return false
	}
	return true
}

func (r *Receiver) adminPutConfig(w http.ResponseWriter, req *http.Request) {
	var in PutConfigRequest
	if !r.readAdmin(w, req, &in) || !r.knownGateway(w, req, in.Gateway) {
		return
	}
	if strings.TrimSpace(in.YAML) == "" {
		r.adminErr(w, req, wire.CodeBadRequest, "yaml: empty config")
		return
	}
	b, err := PushConfig(r.store, in.Gateway, []byte(in.YAML), in.Version, r.clk.Now())
	if errors.Is(err, ErrTooLarge) {
		r.adminErr(w, req, wire.CodeTooLarge, err.Error())
		return
	} else if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	r.adminOK(w, req, b)
}

// ErrTooLarge is returned for a config or command over the protocol's
// limits (wire.MaxConfigYAML, wire.MaxConfigResponse, wire.MaxCommandBytes):
// a gateway would refuse it.
var ErrTooLarge = errors.New("over the protocol's limit")

// PushConfig stores yaml as gateway's config bundle. An empty version
// becomes the last numeric version + 1 (1 for the first). The ETag is a
// digest of version and yaml. A config a gateway would refuse as too large
// is ErrTooLarge.
func PushConfig(s Storage, gateway string, yaml []byte, version string, now time.Time) (wire.ConfigBundle, error) {
	if len(yaml) > wire.MaxConfigYAML {
		return wire.ConfigBundle{}, fmt.Errorf("config of %d bytes: %w of %d bytes", len(yaml), ErrTooLarge, wire.MaxConfigYAML)
	}
	if version == "" {
		version = "1"
		if old, err := s.Config(gateway); err == nil {
			if n, err := strconv.ParseUint(old.Version, 10, 64); err == nil {
				version = strconv.FormatUint(n+1, 10)
			} else {
				version = now.UTC().Format("20060102T150405Z")
			}
		}
	}
	sum := sha256.Sum256(append([]byte(version+"\n"), yaml...))
	b := wire.ConfigBundle{Version: version, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, YAML: string(yaml), Created: now.UTC()}
	if js, _ := json.Marshal(b); len(js) > wire.MaxConfigResponse {
		return b, fmt.Errorf("config bundle of %d bytes as JSON: %w of %d bytes", len(js), ErrTooLarge, wire.MaxConfigResponse)
	}
	if err := s.PutConfig(gateway, b); err != nil {
		return b, fmt.Errorf("store config of gateway %q: %w", gateway, err)
	}
	return b, nil
}

func (r *Receiver) adminCommands(w http.ResponseWriter, req *http.Request) {
	gw := req.URL.Query().Get("gateway")
	if !r.knownGateway(w, req, gw) {
		return
	}
	entries, err := r.store.Commands(gw, 0, 10000, false)
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	if entries == nil {
		entries = []CommandEntry{}
	}
	r.adminOK(w, req, map[string]any{"commands": entries})
}

func (r *Receiver) adminAddCommand(w http.ResponseWriter, req *http.Request) {
	var in AddCommandRequest
	if !r.readAdmin(w, req, &in) || !r.knownGateway(w, req, in.Gateway) {
		return
	}
	known := false
	for _, t := range CommandTypes {
		known = known || t == in.Type
	}
	if !known {
		r.adminErr(w, req, wire.CodeBadRequest,
			fmt.Sprintf("type %q: want one of %s", in.Type, strings.Join(CommandTypes, ", ")))
		return
	}
	c := wire.Command{ID: math.MaxUint64, Type: in.Type, Args: in.Args, Created: r.clk.Now().UTC()}
	if js, _ := json.Marshal(c); len(js) > wire.MaxCommandBytes {
		r.adminErr(w, req, wire.CodeTooLarge, fmt.Sprintf("command of %d bytes as JSON: %v of %d bytes", len(js), ErrTooLarge, wire.MaxCommandBytes))
		return
	}
	c.ID = 0
	c, err := r.store.AddCommand(in.Gateway, c)
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	r.adminOK(w, req, c)
}

// DiagnosticsEntry is one diagnostics bundle a gateway uploaded (the result
// of a send_diagnostics command), as GET /v1/admin/diagnostics lists it.
type DiagnosticsEntry struct {
	Gateway  string    `json:"gateway"`
	Command  uint64    `json:"command"`
	Created  time.Time `json:"created"` // when the command was queued
	Finished time.Time `json:"finished,omitzero"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Bytes    int       `json:"bytes"` // size of the zip; 0 when it failed or is pending
	Pending  bool      `json:"pending,omitempty"`
}

// Diagnostics lists the send_diagnostics commands of gateway, newest first,
// with what their results hold.
func Diagnostics(s Storage, gateway string) ([]DiagnosticsEntry, error) {
	entries, err := s.Commands(gateway, 0, 10000, false)
	if err != nil {
		return nil, err
	}
	var out []DiagnosticsEntry
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Command.Type != wire.CmdSendDiagnostics {
			continue
		}
		d := DiagnosticsEntry{Gateway: gateway, Command: e.Command.ID, Created: e.Command.Created, Pending: e.Result == nil}
		if e.Result != nil {
			d.OK, d.Error, d.Finished, d.Bytes = e.Result.OK, e.Result.Error, e.Result.Finished, e.AttachmentBytes
		}
		out = append(out, d)
	}
	return out, nil
}

func (r *Receiver) adminDiagnostics(w http.ResponseWriter, req *http.Request) {
	gw := req.URL.Query().Get("gateway")
	if !r.knownGateway(w, req, gw) {
		return
	}
	list, err := Diagnostics(r.store, gw)
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	if list == nil {
		list = []DiagnosticsEntry{}
	}
	r.adminOK(w, req, map[string]any{"diagnostics": list})
}

// adminDiagnosticsGet answers the zip of one diagnostics bundle:
// GET /v1/admin/diagnostics/{id}?gateway=G, id a command id or "latest".
func (r *Receiver) adminDiagnosticsGet(w http.ResponseWriter, req *http.Request) {
	gw := req.URL.Query().Get("gateway")
	if !r.knownGateway(w, req, gw) {
		return
	}
	var id uint64
	if s := req.PathValue("id"); s == "latest" {
		list, err := Diagnostics(r.store, gw)
		if err != nil {
			r.adminErr(w, req, wire.CodeInternal, err.Error())
			return
		}
		for _, d := range list {
			if d.Bytes > 0 {
				id = d.Command
				break
			}
		}
		if id == 0 {
			r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("gateway %q has uploaded no diagnostics bundle", gw))
			return
		}
	} else {
		var err error
		if id, err = strconv.ParseUint(s, 10, 64); err != nil {
			r.adminErr(w, req, wire.CodeBadRequest, fmt.Sprintf("diagnostics %q: want a command id or latest", s))
			return
		}
	}
	zip, err := r.store.Attachment(gw, id)
	if errors.Is(err, ErrNotFound) {
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("gateway %q command %d has no diagnostics bundle", gw, id))
		return
	} else if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="diagnostics-%s-%d.zip"`, gw, id))
	w.Header().Set("Content-Length", strconv.Itoa(len(zip)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.Copy(w, bytes.NewReader(zip))
}

// adminFile serves a file a gateway put: GET /v1/admin/files/{gateway}/{name}.
func (r *Receiver) adminFile(w http.ResponseWriter, req *http.Request) {
	gw, name := req.PathValue("gateway"), req.PathValue("name")
	if !ValidGatewayID(gw) || !wire.ValidFileName(name) {
		r.adminErr(w, req, wire.CodeBadRequest, fmt.Sprintf("file %q of gateway %q: bad gateway id or file name", name, gw))
		return
	}
	b, err := r.store.File(gw, name)
	if errors.Is(err, ErrNotFound) {
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("gateway %q has uploaded no file %q", gw, name))
		return
	} else if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	ct := "application/octet-stream"
	if strings.HasSuffix(strings.ToLower(name), ".jpg") {
		ct = "image/jpeg"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.Copy(w, bytes.NewReader(b))
}

func (r *Receiver) adminStats(w http.ResponseWriter, req *http.Request) {
	r.adminOK(w, req, r.Stats())
}
