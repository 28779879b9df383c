// Package uplink is the gateway side of sync: it reads the durable log
// through its cursors, uploads signed, gzipped batches to the central
// platform (alerts and state changes first), quarantines what the platform
// rejects, and fetches config bundles and commands down.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/sync/errgroup"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/wire"
)

// Options configure an Uplink.
type Options struct {
	// Config is the uplink section, defaulted (config.Uplink.SetDefaults)
	// and validated. Its URL must be set.
	Config config.Uplink
	// GatewayID is the gateway's id at the central platform. Required.
	GatewayID string
	// Log is the durable event log; State holds the quarantine and the
	// downlink's bookkeeping. Both required (edge/store implements both).
	Log   edge.Log
	State edge.StateStore
	// Controller runs the central platform's commands and config bundles.
	// Nil: commands fail with "no controller" and bundles are refused.
	Controller edge.Controller
	// Judge gets the clock skew the uplink measures. May be nil.
	Judge *edge.ClockJudge
	// Logger defaults to a discarding logger; Clock to the system clock.
	Logger *slog.Logger
	Clock  edge.Clock
	// Version is the gateway software version sent with heartbeats.
	Version string
	// Summary, when set, fills the gateway's part of each heartbeat
	// (devices online, active alerts, store size).
	Summary func() Summary
	// FilesDirs are the folders of the files events name (the camera
	// pictures, sync/uplink/files.go): uploaded at the lowest priority.
	// Empty: no files are uploaded.
	FilesDirs []string
	// Updater, when set, is the self-update manager (release.go): its
	// status rides on every heartbeat and it gets the central's offers.
	Updater Updater
	// Transport replaces the HTTP transport (tests, benchmarks). Default: a
	// pooled transport with the TLS settings of Config.
	Transport http.RoundTripper
}

// Summary is the gateway's part of a heartbeat.
type Summary struct {
	DevicesOnline int
	DevicesTotal  int
	ActiveAlerts  int
	StoreBytes    int64
	StoreCap      int64
}

// Uplink syncs one gateway with the central platform.
type Uplink struct {
	o    Options
	cfg  config.Uplink
	log  *slog.Logger
	clk  edge.Clock
	c    *client
	base *url.URL

	paused  atomic.Bool
	pmu     sync.Mutex
	pauseC  chan struct{} // closed (and replaced) on each pause/resume change
	pollNow chan struct{}

	mu          sync.Mutex
	st          edge.SyncStatus
	lastContact time.Time
	forged      uint64
	avgSize     float64
	cmdRejects  uint64
	configError string
	rejectRun   atomic.Int64 // events quarantined since the last accepted batch

	// The state (under mu): conn is what the last exchange said of the
	// central platform (edge.SyncConnecting, SyncOK, SyncUnreachable,
	// SyncRejecting) since connSince; progressAt is when the upload last
	// moved a cursor or found the log drained; pausedAt when the switch
	// went off. state/stateSince is the state last reported.
	conn       string
	connSince  time.Time
	progressAt time.Time
	pausedAt   time.Time
	state      string
	stateSince time.Time

	logs *edge.LogThrottle // repeated failures of the loops

	fmu    sync.Mutex // the file queue (state store) and fstats
	fstats FileStats
}

// maxKeyFile bounds uplink.key_file (a key is a line).
const maxKeyFile = 64 << 10

// New builds an uplink. It reads the key (file) and the CA file now, so a
// mistake shows at start.
func New(o Options) (*Uplink, error) {
	cfg := o.Config
	cfg.SetDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("uplink: no url configured")
	}
	if o.GatewayID == "" {
		return nil, errors.New("uplink: no gateway id")
	}
	if o.Log == nil || o.State == nil {
		return nil, errors.New("uplink: log and state store are required")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("uplink: %w", errs[0])
	}
	if o.Logger == nil {
		o.Logger = edge.DiscardLogger()
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("uplink: url: %w", err)
	}
	keyText := cfg.Key
	if cfg.KeyFile != "" {
		b, err := edge.ReadFileLimit(cfg.KeyFile, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: read key_file: %w", err)
		}
		keyText = string(b)
	}
	key, err := wire.ParseKey(keyText)
	if err != nil {
		return nil, fmt.Errorf("uplink: key: %w", err)
	}
	tr := o.Transport
	if tr == nil {
		tc, err := wire.TLSConfig(cfg.CAFile, cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		if o.Judge != nil {
			// Certificates are checked at max(now, the clock floor): a box
			// that booted in 1970 still refuses a certificate that had
			// expired by its last known good time (docs/time.md).
			tc.Time = o.Judge.VerifyTime
		}
		tr = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:        tc,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxIdleConns:           4,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			ExpectContinueTimeout:  time.Second,
			ForceAttemptHTTP2:      true,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	now := o.Clock.Now()
	u := &Uplink{o: o, cfg: cfg, log: o.Logger, clk: o.Clock, base: base, pauseC: make(chan struct{}), pollNow: make(chan struct{}, 1), avgSize: 40,
		conn: edge.SyncConnecting, connSince: now, progressAt: now, state: edge.SyncConnecting, stateSince: now,
		logs: &edge.LogThrottle{Log: o.Logger, Interval: time.Minute, Clock: o.Clock}}
	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{Timeout: cfg.Timeout.D(), Transport: tr,
			// A redirect is not part of the protocol: answer it as it is
			// (transient), do not follow it with the signed headers.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Logger:       newSlogLogger(o.Logger, o.Clock),
		RetryWaitMin: cfg.RetryWaitMin.D(),
		RetryWaitMax: cfg.RetryWaitMax.D(),
		RetryMax:     cfg.RetryMax,
		CheckRetry:   u.checkRetry,
		Backoff:      Backoff(cfg.RetryAfterCap.D(), o.Clock),
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	u.c = &client{base: base, gateway: o.GatewayID, key: key, rc: rc, now: o.Clock.Now, signNow: o.Clock.Now}
	if o.Judge != nil {
		// Requests are signed with the skew-corrected time once the
		// central's Date header gave a skew (any answer, a 401
		// clock_window too), so a box whose clock is off authenticates
		// from its next attempt on.
		u.c.signNow = o.Judge.SignTime
	}
	rc.RequestLogHook = u.c.requestHook
	rc.PrepareRetry = u.c.prepareRetry
	u.st = edge.SyncStatus{Enabled: true, URL: redact(base)}
	if v, _ := o.State.GetState(stateConfigVersion); v != nil {
		u.st.ConfigVersion = string(v)
	}
	if v, _ := o.State.GetState(stateConfigError); v != nil {
		u.configError = string(v)
	}
	return u, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Run uploads, polls the downlink and sends heartbeats until ctx ends. It
// returns nil then; it never gives up on the central platform.
func (u *Uplink) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return u.uploadLoop(ctx) })
	g.Go(func() error { return u.downlinkLoop(ctx) })
	g.Go(func() error { return u.heartbeatLoop(ctx) })
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// SetPaused switches the network off (true) or on: the demo's "network
// down/up". While paused nothing is sent and requests in flight are
// cancelled; the backlog grows in the log.
func (u *Uplink) SetPaused(p bool) {
	if u.paused.Swap(p) == p {
		return
	}
	u.pmu.Lock()
	close(u.pauseC)
	u.pauseC = make(chan struct{})
	u.pmu.Unlock()
	u.mu.Lock()
	u.st.Paused = p
	if p {
		u.pausedAt = u.clk.Now()
	} else {
		now := u.clk.Now()
		u.conn, u.connSince, u.progressAt = edge.SyncConnecting, now, now
	}
	u.mu.Unlock()
	u.log.Info("uplink switched", "paused", p)
}

// pauseChanged returns a channel closed at the next pause/resume change.
func (u *Uplink) pauseChanged() <-chan struct{} {
	u.pmu.Lock()
	defer u.pmu.Unlock()
	return u.pauseC
}

// netCtx returns a context for network work: cancelled by ctx and by a pause.
func (u *Uplink) netCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ch := u.pauseChanged()
	nctx, cancel := context.WithCancel(ctx)
	if u.paused.Load() {
		cancel()
		return nctx, cancel
	}
	go func() {
		select {
		case <-ch:
			cancel()
		case <-nctx.Done():
		}
	}()
	return nctx, cancel
}

// waitUnpaused blocks while the uplink is paused.
func (u *Uplink) waitUnpaused(ctx context.Context) error {
	for u.paused.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.pauseChanged():
		}
	}
	return ctx.Err()
}

// sleep waits d, or until ctx ends or the pause switch moves.
func (u *Uplink) sleep(ctx context.Context, d time.Duration) error {
	ch := u.pauseChanged()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	case <-u.clk.After(d):
		return nil
	}
}

// Up reports whether the central platform takes the gateway's events now:
// not paused, the last exchange succeeded recently, and the backlog is not
// stalled. Rules use it to send SMS only while the uplink is down.
func (u *Uplink) Up() bool {
	if u.paused.Load() {
		return false
	}
	st := u.Status()
	u.mu.Lock()
	defer u.mu.Unlock()
	window := 2*max(u.cfg.HeartbeatInterval.D(), u.cfg.PollInterval.D()) + u.cfg.Timeout.D()
	return st.State == edge.SyncOK && u.clk.Now().Sub(u.lastContact) < window
}

// Status is the uplink's summary for the status page and the heartbeat.
func (u *Uplink) Status() edge.SyncStatus {
	u.mu.Lock()
	avg := u.avgSize
	u.mu.Unlock()
	var backlog uint64
	var bytes int64
	var oldest time.Time
	next, err := u.o.Log.Cursor(edge.CursorUplink)
	if err == nil {
		if last := u.o.Log.LastSeq(); last >= next {
			backlog = last - next + 1
			if h, ok := u.o.Log.(edge.Backlogger); ok {
				backlog = h.Held(next) // the events still stored, not those evicted
			}
			bytes = int64(float64(backlog) * avg)
			if evs, err := u.o.Log.Read(next, 1); err == nil && len(evs) > 0 {
				oldest = evs[0].Time
			}
		}
	}
	u.mu.Lock()
	u.refreshState(u.clk.Now(), backlog)
	st := u.st
	st.State, st.StateSince = u.state, u.stateSince
	u.mu.Unlock()
	st.Paused = u.paused.Load()
	st.BacklogEvents, st.BacklogBytes, st.OldestUnsynced = backlog, bytes, oldest
	st.Reachable = st.State == edge.SyncOK || st.State == edge.SyncStalled
	if u.o.Judge != nil {
		st.ClockSkew, st.SkewKnown = u.o.Judge.Skew()
	}
	return st
}

// refreshState works out the state now (u.mu held): paused; else what the
// last exchange said of the central platform (connecting, unreachable,
// rejecting); else, when it answers, stalled if the backlog has not moved
// for StallAfter, ok otherwise. The since-when of a state is kept while it
// lasts: a stall began when the backlog last moved.
func (u *Uplink) refreshState(now time.Time, backlog uint64) {
	state, since := u.conn, u.connSince
	switch {
	case u.paused.Load():
		state, since = edge.SyncPaused, u.pausedAt
	case state == edge.SyncOK && backlog > 0 && now.Sub(u.progressAt) >= u.cfg.StallAfter.D():
		state, since = edge.SyncStalled, u.progressAt
	case state == edge.SyncOK && u.state == edge.SyncStalled:
		since = u.progressAt // the stall ended when the backlog moved
	}
	if state != u.state {
		u.state, u.stateSince = state, since
	}
}

// noteConn records what an exchange (or one attempt of it) said of the
// central platform.
func (u *Uplink) noteConn(kind string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if kind != u.conn {
		u.conn, u.connSince = kind, now
	}
	if kind == edge.SyncOK {
		u.lastContact = now
	}
}

// noteAttempt records a failed attempt that is about to be retried: the
// state and the last error say so while the exchange goes on.
func (u *Uplink) noteAttempt(kind, msg string) {
	now := u.clk.Now()
	u.noteConn(kind, now)
	u.mu.Lock()
	u.st.LastError, u.st.LastErrorAt = msg, now
	u.mu.Unlock()
}

// noteProgress records that the upload moved (a cursor, or the log found
// drained): the backlog is not stalled.
func (u *Uplink) noteProgress() {
	now := u.clk.Now()
	u.mu.Lock()
	u.progressAt = now
	u.mu.Unlock()
}

// connFor is what an answer (status 0: none) or a failure says of the
// central platform: it answered and took the request (ok; a 4xx rejection
// of one request counts: the platform works and the data is quarantined),
// it answered refusing (rejecting: 408, 429, 5xx, 401, 403, a redirect),
// or no genuine answer came (unreachable: network error, timeout, an answer
// that failed its signature or the protocol's size limits).
func connFor(status int, err error) string {
	switch cls := wire.Classify(status); {
	case status == 0, errors.Is(err, errForged), errors.Is(err, errResponseTooLarge), errors.Is(err, errBadAnswer):
		return edge.SyncUnreachable
	case cls == wire.ClassOK && err != nil: // a 200 whose body did not arrive whole
		return edge.SyncUnreachable
	case cls == wire.ClassTransient:
		return edge.SyncRejecting
	}
	return edge.SyncOK
}

// Forged counts downlink responses refused for a missing or bad signature.
func (u *Uplink) Forged() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.forged
}

// noteResult records an exchange's outcome in the status.
func (u *Uplink) noteResult(ex *exchange, err error) {
	now := u.clk.Now()
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, errStopped)) {
		return // shutdown or the pause switch: not the network's failure
	}
	status := 0
	var ue *Error
	if errors.As(err, &ue) {
		status = ue.Status
	}
	if err == nil {
		u.noteConn(edge.SyncOK, now)
	} else {
		u.noteConn(connFor(status, err), now)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.st.LastSuccess = now
		u.st.Successes++
	} else {
		u.st.Failures++
		u.st.LastError = err.Error()
		u.st.LastErrorAt = now
		if errors.Is(err, errForged) {
			u.forged++
		}
	}
	if ex != nil && u.o.Judge != nil {
		if d, ok := skew(ex); ok {
			u.o.Judge.SetSkew(d)
		}
	}
}

// skew measures server minus local time (what ClockJudge.SetSkew wants)
// from a response's Date header, against the mid-point of the request.
func skew(ex *exchange) (time.Duration, bool) {
	if ex.Sent.IsZero() || ex.Recv.IsZero() {
		return 0, false
	}
	d, ok := wire.ClockSkew(ex.Header, ex.Sent, ex.Recv) // local minus server
	return -d, ok
}
