// Package receiver is the central side of the edgegw sync protocol
// (sync/PROTOCOL.md): an http.Handler that authenticates gateways, stores
// their batches durably exactly once, serves config bundles and commands,
// records results and heartbeats, and offers a small admin API.
package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Options configure a Receiver.
type Options struct {
	// Store keeps everything; required (OpenBadger for the default).
	Store Storage
	// MaxBody is the largest batch body accepted, compressed. Default
	// wire.MaxBatchBody (8 MiB).
	MaxBody int64
	// MaxDecoded is the largest decompressed batch. Default
	// wire.MaxBatchDecoded (16 MiB).
	MaxDecoded int64
	// MemoryBudget bounds the bytes that requests in flight may hold at
	// once: bodies, decompressed batches, decoded events. A request that
	// does not fit now is answered 503 with Retry-After; one request may
	// hold at most half of it (more is 413), and one gateway's requests
	// together at most half. Default DefaultMemoryBudget.
	MemoryBudget int64
	// GatewayRate and GatewayBurst bound each gateway's requests per second
	// (a token bucket); more is answered 429 with Retry-After. Default 100
	// per second with bursts of 200: a gateway draining a backlog sends
	// 30-50 batches a second, and one whose devices change state often
	// sends its small priority batches back to back (edgebench hostile's
	// good gateway, 2,000 events/s, passed 50 a second on loopback).
	GatewayRate  float64
	GatewayBurst int
	// ReplayWindow is how far a request's timestamp may be from the clock.
	// Default 5 minutes.
	ReplayWindow time.Duration
	// FutureWindow is how far past the receiver's clock an event's time may
	// be when the gateway says its clock is trusted. Default 24 hours. (Its
	// time may not be before 2000 either.)
	FutureWindow time.Duration
	// AdminToken, when set, is required (Authorization: Bearer) on every
	// admin request. When empty, admin requests are accepted from loopback
	// addresses only.
	AdminToken string
	// Logger gets request errors; nil discards. Refusals are logged at most
	// once per 10 seconds per code, with the count of those left out.
	Logger *slog.Logger
	// Clock is the receiver's clock; default the system clock.
	Clock Clock
	// ReleaseKeys, when set, are the release keys a pushed manifest must
	// be signed by (one of them); when empty, the central checks only
	// that a manifest is a well-formed signed envelope (the gateways check
	// the signatures with their own keys).
	ReleaseKeys []wire.ReleasePublicKey
}

// DefaultMemoryBudget is the default Options.MemoryBudget: with Badger's
// own memory it keeps `edgecentral serve` under 128 MiB under any load.
const DefaultMemoryBudget = 32 << 20

// Receiver is the http.Handler of the protocol and the admin API.
type Receiver struct {
	opts  Options
	log   *slog.Logger
	store Storage
	clk   Clock
	mux   *http.ServeMux

	budget  *budget // requests authenticated before their body is read
	legacy  *budget // requests without the digest header, until their body is read
	gwMu    gosync.Mutex
	gws     map[string]*gwState
	refused map[string]*atomic.Uint64 // by error code
	logMu   gosync.Mutex
	logged  map[string]logMark // by error code: the log throttle

	replayMu gosync.Mutex
	seen     map[string]time.Time // accepted signatures → when they may be forgotten
	lastGC   time.Time

	relMu  gosync.Mutex
	relIdx *releaseIndex // rollouts and releases, for heartbeats (release_http.go)
}

type logMark struct {
	at         time.Time
	suppressed int
}

// New returns a Receiver over opts.Store.
func New(opts Options) (*Receiver, error) {
	if opts.Store == nil {
		return nil, errors.New("receiver: no Store")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = wire.MaxBatchBody
	}
	if opts.MaxDecoded <= 0 {
		opts.MaxDecoded = wire.MaxBatchDecoded
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = DefaultMemoryBudget
	}
	if opts.GatewayRate <= 0 {
		opts.GatewayRate = 100
	}
	if opts.GatewayBurst <= 0 {
		opts.GatewayBurst = max(1, int(2*opts.GatewayRate))
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = wire.DefaultReplayWindow
	}
	if opts.FutureWindow <= 0 {
		opts.FutureWindow = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	r := &Receiver{opts: opts, log: opts.Logger, store: opts.Store, clk: opts.Clock, seen: map[string]time.Time{},
		budget: newBudget(opts.MemoryBudget), legacy: newBudget(max(opts.MemoryBudget/4, 1)),
		gws: map[string]*gwState{}, refused: map[string]*atomic.Uint64{}, logged: map[string]logMark{}}
	for _, e := range wire.Errors {
		r.refused[e.Code] = new(atomic.Uint64)
	}
	m := http.NewServeMux()
	m.HandleFunc("POST "+wire.PathBatches, r.gw(opts.MaxBody, r.handleBatch))
	m.HandleFunc("GET "+wire.PathConfig, r.gw(wire.MaxJSONBody, r.handleConfig))
	m.HandleFunc("GET "+wire.PathCommands, r.gw(wire.MaxJSONBody, r.handleCommands))
	m.HandleFunc("POST "+wire.PathCommands+"/{id}/result", r.gw(wire.MaxResultBody, r.handleResult))
	m.HandleFunc("POST "+wire.PathHeartbeat, r.gw(wire.MaxJSONBody, r.handleHeartbeat))
	m.HandleFunc("PUT "+wire.PathFiles+"/{name}", r.gw(wire.MaxFileBody, r.handleFile))
	m.HandleFunc("GET "+wire.PathReleases+"/{sha}", r.gw(1<<10, r.handleReleaseChunk))
	m.HandleFunc("POST "+wire.PathReleaseReport, r.gw(maxReportBody, r.handleReleaseReport))
	m.HandleFunc("POST /v1/admin/releases", r.admin(r.adminPushRelease))
	m.HandleFunc("GET /v1/admin/releases", r.admin(r.adminReleases))
	m.HandleFunc("POST /v1/admin/rollouts", r.admin(r.adminCreateRollout))
	m.HandleFunc("GET /v1/admin/rollouts", r.admin(r.adminRollouts))
	m.HandleFunc("GET /v1/admin/rollouts/{id}", r.admin(r.adminRollout))
	m.HandleFunc("POST /v1/admin/rollouts/{id}/{op}", r.admin(r.adminChangeRollout))
	m.HandleFunc("GET /v1/admin/update-reports", r.admin(r.adminUpdateReports))
	m.HandleFunc("GET /v1/admin/events", r.admin(r.adminEvents))
	m.HandleFunc("GET /v1/admin/alerts", r.admin(r.adminAlerts))
	m.HandleFunc("GET /v1/admin/gateways", r.admin(r.adminGateways))
	m.HandleFunc("POST /v1/admin/gateways", r.admin(r.adminAddGateway))
	m.HandleFunc("POST /v1/admin/gateways/{id}/move", r.admin(r.adminMoveGateway))
	m.HandleFunc("POST /v1/admin/gateways/{id}/rekey", r.admin(r.adminRekeyGateway))
	m.HandleFunc("POST /v1/admin/gateways/{id}/disable", r.admin(r.adminDisableGateway(true)))
	m.HandleFunc("POST /v1/admin/gateways/{id}/enable", r.admin(r.adminDisableGateway(false)))
	m.HandleFunc("POST /v1/admin/config", r.admin(r.adminPutConfig))
	m.HandleFunc("GET /v1/admin/commands", r.admin(r.adminCommands))
	m.HandleFunc("POST /v1/admin/commands", r.admin(r.adminAddCommand))
	m.HandleFunc("GET /v1/admin/diagnostics", r.admin(r.adminDiagnostics))
	m.HandleFunc("GET /v1/admin/diagnostics/{id}", r.admin(r.adminDiagnosticsGet))
	m.HandleFunc("GET /v1/admin/stats", r.admin(r.adminStats))
	m.HandleFunc("GET /v1/admin/files/{gateway}/{name}", r.admin(r.adminFile))
	m.HandleFunc("GET /v1/admin/tree", r.admin(r.adminTree))
	m.HandleFunc("GET /district", r.districtPage) // static: its data comes from /v1/admin/tree
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.fail(w, nil, req, nil, r.clk.Now(), wire.CodeNotFound, "no such endpoint: "+req.Method+" "+req.URL.Path)
	})
	r.mux = m
	return r, nil
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// Store returns the receiver's storage.
func (r *Receiver) Store() Storage { return r.store }

// AddGateway creates gateway id with a new random key and returns the key.
func (r *Receiver) AddGateway(id string) (wire.Key, error) {
	return AddGateway(r.store, id, r.clk.Now())
}

// AddGateway creates gateway id in s with a new random key and returns it.
func AddGateway(s Storage, id string, now time.Time) (wire.Key, error) {
	return AddPlacedGateway(s, id, "", now)
}

// AddPlacedGateway is AddGateway with the gateway's place path
// (district/street/committee/compound, see ParsePlace; "" unplaced).
func AddPlacedGateway(s Storage, id, place string, now time.Time) (wire.Key, error) {
	if place != "" {
		p, err := FullPlace(place)
		if err != nil {
			return wire.Key{}, err
		}
		place = strings.Join(p, "/")
	}
	if !ValidGatewayID(id) {
		return wire.Key{}, fmt.Errorf("gateway id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	k, err := wire.NewKey()
	if err != nil {
		return k, err
	}
	if err := s.AddGateway(Gateway{ID: id, Key: k, Created: now.UTC(), Place: place}); err != nil {
		return wire.Key{}, err
	}
	return k, nil
}

// authed is a request from an authenticated gateway.
type authed struct {
	gw     Gateway
	body   []byte  // as received
	charge *charge // the request's hold on the memory budget
}

// gw wraps a gateway endpoint whose body may be up to limit bytes: it
// admits the request (gate.go: gateway, size, signature, replay, rate,
// memory budget, in that order, most of it before the body is read), reads
// the body, and only then calls h.
func (r *Receiver) gw(limit int64, h func(w http.ResponseWriter, req *http.Request, a *authed)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		now := r.clk.Now()
		id := req.Header.Get(wire.HeaderGateway)
		log := r.log.With("gateway", id, "path", req.URL.Path, "remote", req.RemoteAddr)
		if id == "" || !ValidGatewayID(id) {
			r.fail(w, log, req, nil, now, wire.CodeUnknownGW, "missing or invalid "+wire.HeaderGateway)
			return
		}
		g, err := r.store.Gateway(id)
		if errors.Is(err, ErrNotFound) {
			r.fail(w, log, req, nil, now, wire.CodeUnknownGW, fmt.Sprintf("unknown gateway %q", id))
			return
		} else if err != nil {
			r.failStore(w, log, req, nil, now, "look up gateway", err)
			return
		}
		key := &g.Key
		if req.ContentLength > limit {
			r.fail(w, log, req, key, now, wire.CodeTooLarge,
				fmt.Sprintf("body of %d bytes is over the limit of %d", req.ContentLength, limit))
			return
		}
		herr := wire.VerifyRequestHeaders(req, g.Key, now, r.opts.ReplayWindow)
		preauth := herr == nil
		switch {
		case preauth, errors.Is(herr, wire.ErrNoDigest):
		case errors.Is(herr, wire.ErrClockWindow):
			r.fail(w, log, req, key, now, wire.CodeClockWindow, herr.Error())
			return
		default:
			r.fail(w, log, req, key, now, wire.CodeUnauthorized, herr.Error())
			return
		}
		sig := req.Header.Get(wire.HeaderSignature)
		if r.seenBefore(sig, now) {
			r.fail(w, log, req, key, now, wire.CodeReplayed, "replayed request: this signature was already used")
			return
		}
		var ch *charge
		if preauth {
			if !r.admitGateway(w, log, req, &g, now) {
				return
			}
			ch = &charge{b: r.budget, gw: r.gwState(id), max: r.budget.size / 2, gwMax: r.budget.size / 2}
		} else {
			ch = &charge{b: r.legacy, max: r.legacy.size}
		}
		defer ch.release()
		size := req.ContentLength
		if size < 0 {
			size = limit * 3 / 2 // no length: the buffer grows by doubling
		}
		if err := ch.reserve(size); err != nil {
			r.failReserve(w, log, req, key, now, err, "read body")
			return
		}
		body, digest, err := readBody(w, req, limit)
		if err != nil {
			if errors.Is(err, wire.ErrBodyTooLarge) {
				r.fail(w, log, req, key, now, wire.CodeTooLarge, "read body: "+err.Error())
				return
			}
			r.fail(w, log, req, key, now, wire.CodeBadRequest, "read body: "+err.Error())
			return
		}
		if preauth {
			if !wire.Equal(digest, req.Header.Get(wire.HeaderContentSHA256)) {
				r.fail(w, log, req, key, now, wire.CodeUnauthorized, fmt.Sprintf("%v: the body does not match %s", wire.ErrBadSignature, wire.HeaderContentSHA256))
				return
			}
		} else {
			if err := wire.VerifyRequest(req, g.Key, body, now, r.opts.ReplayWindow); err != nil {
				code := wire.CodeUnauthorized
				if errors.Is(err, wire.ErrClockWindow) {
					code = wire.CodeClockWindow
				}
				r.fail(w, log, req, key, now, code, err.Error())
				return
			}
			if !r.admitGateway(w, log, req, &g, now) {
				return
			}
		}
		if !r.remember(sig, now) {
			r.fail(w, log, req, key, now, wire.CodeReplayed, "replayed request: this signature was already used")
			return
		}
		h(w, req, &authed{gw: g, body: body, charge: ch})
	}
}

// seenBefore reports whether sig was accepted within the last two replay
// windows (without remembering it: only a request that passes every check
// is remembered).
func (r *Receiver) seenBefore(sig string, now time.Time) bool {
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	exp, ok := r.seen[strings.ToLower(sig)]
	return ok && now.Before(exp)
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

// writeError answers code (its status from wire.Errors) with msg, signed
// with key when key is not nil. 429 and 503 carry a Retry-After (1 s when
// the caller set none).
func writeError(w http.ResponseWriter, req *http.Request, key *wire.Key, now time.Time, code, msg string) {
	status := wire.StatusOf(code)
	if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, req, key, now, status, wire.ErrorResponse{Error: msg, Code: code})
}

// fail answers a refused request, counts it, and logs it (at most once per
// 10 s per code) when log is not nil.
func (r *Receiver) fail(w http.ResponseWriter, log *slog.Logger, req *http.Request, key *wire.Key, now time.Time, code, msg string) {
	if n := r.refused[code]; n != nil {
		n.Add(1)
	}
	if log != nil {
		if ok, suppressed := r.allowLog(code, now); ok {
			lvl := slog.LevelWarn
			if wire.StatusOf(code) >= 500 {
				lvl = slog.LevelError
			}
			log.Log(req.Context(), lvl, "request refused", "status", wire.StatusOf(code), "code", code, "error", msg, "suppressed", suppressed)
		}
	}
	writeError(w, req, key, now, code, msg)
}

// failRetry is fail with a Retry-After of after (rounded up to seconds).
func (r *Receiver) failRetry(w http.ResponseWriter, log *slog.Logger, req *http.Request, key *wire.Key, now time.Time, code string, after time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
	r.fail(w, log, req, key, now, code, msg)
}

// allowLog is the receiver's log throttle: one line per code per 10 s, and
// how many were left out since the last. (The gateway's edge.LogThrottle
// does this for the gateway; the receiver imports nothing of the gateway.)
func (r *Receiver) allowLog(code string, now time.Time) (bool, int) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	m := r.logged[code]
	if !m.at.IsZero() && now.Sub(m.at) < 10*time.Second && now.Sub(m.at) >= 0 {
		m.suppressed++
		r.logged[code] = m
		return false, 0
	}
	r.logged[code] = logMark{at: now}
	return true, m.suppressed
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
