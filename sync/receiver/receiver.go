// Package receiver is the central side of the edgegw sync protocol
// (sync/PROTOCOL.md): an http.Handler that authenticates gateways, stores
// their batches durably exactly once, serves config bundles and commands,
// records results and heartbeats, and offers a small admin API.
package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Options configure a Receiver.
type Options struct {
	// Store keeps everything; required (OpenBadger for the default).
	Store Storage
	// MaxBody is the largest request body accepted, compressed. Default 8 MiB.
	MaxBody int64
	// MaxDecoded is the largest decompressed batch. Default 64 MiB.
	MaxDecoded int64
	// ReplayWindow is how far a request's timestamp may be from Now.
	// Default 5 minutes.
	ReplayWindow time.Duration
	// AdminToken, when set, is required (Authorization: Bearer) on every
	// admin request. When empty, admin requests are accepted from loopback
	// addresses only.
	AdminToken string
	// Logger gets request errors; nil discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Receiver is the http.Handler of the protocol and the admin API.
type Receiver struct {
	opts  Options
	log   *slog.Logger
	store Storage
	now   func() time.Time
	mux   *http.ServeMux

	replayMu gosync.Mutex
	seen     map[string]time.Time // accepted signatures → when they may be forgotten
	lastGC   time.Time
}

// New returns a Receiver over opts.Store.
func New(opts Options) (*Receiver, error) {
	if opts.Store == nil {
		return nil, errors.New("receiver: no Store")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 8 << 20
	}
	if opts.MaxDecoded <= 0 {
		opts.MaxDecoded = 64 << 20
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = wire.DefaultReplayWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Receiver{opts: opts, log: opts.Logger, store: opts.Store, now: opts.Now, seen: map[string]time.Time{}}
	m := http.NewServeMux()
	m.HandleFunc("POST "+wire.PathBatches, r.gw(r.handleBatch))
	m.HandleFunc("GET "+wire.PathConfig, r.gw(r.handleConfig))
	m.HandleFunc("GET "+wire.PathCommands, r.gw(r.handleCommands))
	m.HandleFunc("POST "+wire.PathCommands+"/{id}/result", r.gw(r.handleResult))
	m.HandleFunc("POST "+wire.PathHeartbeat, r.gw(r.handleHeartbeat))
	m.HandleFunc("GET /v1/admin/events", r.admin(r.adminEvents))
	m.HandleFunc("GET /v1/admin/alerts", r.admin(r.adminAlerts))
	m.HandleFunc("GET /v1/admin/gateways", r.admin(r.adminGateways))
	m.HandleFunc("POST /v1/admin/gateways", r.admin(r.adminAddGateway))
	m.HandleFunc("POST /v1/admin/config", r.admin(r.adminPutConfig))
	m.HandleFunc("GET /v1/admin/commands", r.admin(r.adminCommands))
	m.HandleFunc("POST /v1/admin/commands", r.admin(r.adminAddCommand))
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, nil, req, nil, r.now(), http.StatusNotFound, wire.CodeNotFound, "no such endpoint: "+req.Method+" "+req.URL.Path)
	})
	r.mux = m
	return r, nil
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// Store returns the receiver's storage.
func (r *Receiver) Store() Storage { return r.store }

// AddGateway creates gateway id with a new random key and returns the key.
func (r *Receiver) AddGateway(id string) (wire.Key, error) { return AddGateway(r.store, id, r.now()) }

// AddGateway creates gateway id in s with a new random key and returns it.
func AddGateway(s Storage, id string, now time.Time) (wire.Key, error) {
	if !ValidGatewayID(id) {
		return wire.Key{}, fmt.Errorf("gateway id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	k, err := wire.NewKey()
	if err != nil {
		return k, err
	}
	if err := s.AddGateway(Gateway{ID: id, Key: k, Created: now.UTC()}); err != nil {
		return wire.Key{}, err
	}
	return k, nil
}

// authed is a request from an authenticated gateway.
type authed struct {
	gw   Gateway
	body []byte // as received
}

// gw wraps a gateway endpoint: it reads the body (bounded), authenticates
// the gateway, checks the signature and the replay window, and only then
// calls h.
func (r *Receiver) gw(h func(w http.ResponseWriter, req *http.Request, a *authed)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		now := r.now()
		id := req.Header.Get(wire.HeaderGateway)
		log := r.log.With("gateway", id, "path", req.URL.Path, "remote", req.RemoteAddr)
		if id == "" || !ValidGatewayID(id) {
			writeError(w, log, req, nil, now, http.StatusUnauthorized, wire.CodeUnknownGW, "missing or invalid "+wire.HeaderGateway)
			return
		}
		g, err := r.store.Gateway(id)
		if errors.Is(err, ErrNotFound) {
			writeError(w, log, req, nil, now, http.StatusUnauthorized, wire.CodeUnknownGW, fmt.Sprintf("unknown gateway %q", id))
			return
		} else if err != nil {
			writeError(w, log, req, nil, now, http.StatusInternalServerError, wire.CodeInternal, "look up gateway: "+err.Error())
			return
		}
		key := &g.Key
		if req.ContentLength > r.opts.MaxBody {
			writeError(w, log, req, key, now, http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
				fmt.Sprintf("body of %d bytes is over the limit of %d", req.ContentLength, r.opts.MaxBody))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, log, req, key, now, http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
					fmt.Sprintf("body over the limit of %d bytes", r.opts.MaxBody))
				return
			}
			writeError(w, log, req, key, now, http.StatusBadRequest, wire.CodeBadRequest, "read body: "+err.Error())
			return
		}
		if err := wire.VerifyRequest(req, g.Key, body, now, r.opts.ReplayWindow); err != nil {
			code := wire.CodeUnauthorized
			if errors.Is(err, wire.ErrClockWindow) {
				code = wire.CodeClockWindow
			}
			writeError(w, log, req, key, now, http.StatusUnauthorized, code, err.Error())
			return
		}
		if !r.remember(req.Header.Get(wire.HeaderSignature), now) {
			writeError(w, log, req, key, now, http.StatusUnauthorized, wire.CodeReplayed, "replayed request: this signature was already used")
			return
		}
		if g.Disabled {
			writeError(w, log, req, key, now, http.StatusForbidden, wire.CodeForbidden, fmt.Sprintf("gateway %q is disabled", id))
			return
		}
		h(w, req, &authed{gw: g, body: body})
	}
}

// remember records an accepted signature; false if it was seen within the
// last two replay windows.
func (r *Receiver) remember(sig string, now time.Time) bool {
	sig = strings.ToLower(sig)
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	if exp, ok := r.seen[sig]; ok && now.Before(exp) {
		return false
	}
	r.seen[sig] = now.Add(2 * r.opts.ReplayWindow)
	if now.Sub(r.lastGC) > r.opts.ReplayWindow/4 || len(r.seen) > 1<<20 {
		for s, exp := range r.seen {
			if !now.Before(exp) {
				delete(r.seen, s)
			}
		}
		r.lastGC = now
	}
	return true
}

// writeJSON writes v with status, signed with key when key is not nil.
func writeJSON(w http.ResponseWriter, req *http.Request, key *wire.Key, now time.Time, status int, v any) {
	var body []byte
	if v != nil {
		var err error
		body, err = json.Marshal(v)
		if err != nil {
			status = http.StatusInternalServerError
			body = []byte(`{"error":"encode answer","code":"internal"}`)
		}
		body = append(body, '\n')
		w.Header().Set("Content-Type", "application/json")
	}
	if key != nil {
		wire.SignResponseHeaders(w.Header(), *key, req, status, body, now)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, log *slog.Logger, req *http.Request, key *wire.Key, now time.Time, status int, code, msg string) {
	if log != nil {
		lvl := slog.LevelWarn
		if status >= 500 {
			lvl = slog.LevelError
		}
		log.Log(req.Context(), lvl, "request refused", "status", status, "code", code, "error", msg)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, req, key, now, status, wire.ErrorResponse{Error: msg, Code: code})
}

func (r *Receiver) handleBatch(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.now()
	log := r.log.With("gateway", a.gw.ID)
	key := &a.gw.Key
	if ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); ce != "gzip" {
		writeError(w, log, req, key, now, http.StatusUnsupportedMediaType, wire.CodeUnsupported,
			fmt.Sprintf("batch Content-Encoding %q: want gzip", ce))
		return
	}
	events, err := wire.ReadBatch(bytes.NewReader(a.body), r.opts.MaxDecoded)
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		writeError(w, log, req, key, now, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, err.Error())
		return
	case err != nil:
		writeError(w, log, req, key, now, http.StatusBadRequest, wire.CodeBadBatch, err.Error())
		return
	}
	stored, dups, err := r.store.StoreBatch(a.gw.ID, events, now)
	if errors.Is(err, ErrEventTooLarge) {
		writeError(w, log, req, key, now, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, err.Error())
		return
	}
	if err != nil {
		writeError(w, log, req, key, now, http.StatusInternalServerError, wire.CodeInternal, "store batch: "+err.Error())
		return
	}
	writeJSON(w, req, key, r.now(), http.StatusOK, wire.BatchResponse{
		Received: len(events), Stored: stored, Duplicates: dups, Acked: wire.AckRanges(events)})
}

func (r *Receiver) handleConfig(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.now()
	key := &a.gw.Key
	b, err := r.store.Config(a.gw.ID)
	if errors.Is(err, ErrNotFound) {
		writeError(w, nil, req, key, now, http.StatusNotFound, wire.CodeNotFound, "no config for gateway "+a.gw.ID)
		return
	} else if err != nil {
		writeError(w, r.log, req, key, now, http.StatusInternalServerError, wire.CodeInternal, "load config: "+err.Error())
		return
	}
	w.Header().Set("ETag", b.ETag)
	if inm := req.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, b.ETag) {
		writeJSON(w, req, key, now, http.StatusNotModified, nil)
		return
	}
	writeJSON(w, req, key, now, http.StatusOK, b)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (r *Receiver) handleCommands(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.now()
	key := &a.gw.Key
	var after uint64
	if s := req.URL.Query().Get("after"); s != "" {
		var err error
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, nil, req, key, now, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("after=%q: want a command id", s))
			return
		}
	}
	entries, err := r.store.Commands(a.gw.ID, after, 100, true)
	if err != nil {
		writeError(w, r.log, req, key, now, http.StatusInternalServerError, wire.CodeInternal, "load commands: "+err.Error())
		return
	}
	list := wire.CommandList{Commands: make([]wire.Command, 0, len(entries))}
	for _, e := range entries {
		list.Commands = append(list.Commands, e.Command)
	}
	writeJSON(w, req, key, now, http.StatusOK, list)
}

func (r *Receiver) handleResult(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.now()
	key := &a.gw.Key
	id, err := strconv.ParseUint(req.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, nil, req, key, now, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("command id %q: want a number", req.PathValue("id")))
		return
	}
	var res wire.CommandResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		writeError(w, nil, req, key, now, http.StatusBadRequest, wire.CodeBadRequest, "command result: "+err.Error())
		return
	}
	if res.Finished.IsZero() {
		res.Finished = now.UTC()
	}
	first, err := r.store.PutResult(a.gw.ID, id, res)
	if errors.Is(err, ErrNotFound) {
		writeError(w, nil, req, key, now, http.StatusNotFound, wire.CodeNotFound, err.Error())
		return
	} else if err != nil {
		writeError(w, r.log, req, key, now, http.StatusInternalServerError, wire.CodeInternal, "store result: "+err.Error())
		return
	}
	if first {
		r.log.Info("command result", "gateway", a.gw.ID, "command", id, "ok", res.OK, "error", res.Error)
	}
	writeJSON(w, req, key, now, http.StatusOK, map[string]bool{"ok": true})
}

func (r *Receiver) handleHeartbeat(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.now()
	key := &a.gw.Key
	var hb wire.Heartbeat
	if err := json.Unmarshal(a.body, &hb); err != nil {
		writeError(w, nil, req, key, now, http.StatusBadRequest, wire.CodeBadRequest, "heartbeat: "+err.Error())
		return
	}
	if err := r.store.PutHeartbeat(a.gw.ID, hb, now.UTC()); err != nil {
		writeError(w, r.log, req, key, now, http.StatusInternalServerError, wire.CodeInternal, "store heartbeat: "+err.Error())
		return
	}
	resp := wire.HeartbeatResponse{ServerTime: now.UTC()}
	if b, err := r.store.Config(a.gw.ID); err == nil {
		resp.ConfigVersion = b.Version
	}
	if cmds, err := r.store.Commands(a.gw.ID, 0, 100, true); err == nil {
		resp.PendingCommands = len(cmds)
	}
	writeJSON(w, req, key, now, http.StatusOK, resp)
}

// isLoopback reports whether the request came from a loopback address.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
