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
	"os"
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
}

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
		b, err := os.ReadFile(cfg.KeyFile)
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
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          4,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	u := &Uplink{o: o, cfg: cfg, log: o.Logger, clk: o.Clock, base: base, pauseC: make(chan struct{}), pollNow: make(chan struct{}, 1), avgSize: 40}
	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Timeout: cfg.Timeout.D(), Transport: tr},
		Logger:       newSlogLogger(o.Logger),
		RetryWaitMin: cfg.RetryWaitMin.D(),
		RetryWaitMax: cfg.RetryWaitMax.D(),
		RetryMax:     cfg.RetryMax,
		CheckRetry:   retryPolicy,
		Backoff:      Backoff(cfg.RetryAfterCap.D()),
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	u.c = &client{base: base, gateway: o.GatewayID, key: key, rc: rc, now: o.Clock.Now, maxResp: 64 << 20}
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
		u.st.Reachable = false
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

// Up reports whether the central platform is reachable now: not paused, and
// the last exchange succeeded recently. Rules use it to send SMS only while
// the uplink is down.
func (u *Uplink) Up() bool {
	if u.paused.Load() {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	window := 2*max(u.cfg.HeartbeatInterval.D(), u.cfg.PollInterval.D()) + u.cfg.Timeout.D()
	return u.st.Reachable && u.clk.Now().Sub(u.lastContact) < window
}

// Status is the uplink's summary for the status page and the heartbeat.
func (u *Uplink) Status() edge.SyncStatus {
	u.mu.Lock()
	st := u.st
	avg := u.avgSize
	u.mu.Unlock()
	st.Paused = u.paused.Load()
	next, err := u.o.Log.Cursor(edge.CursorUplink)
	if err == nil {
		if last := u.o.Log.LastSeq(); last >= next {
			st.BacklogEvents = last - next + 1
			if h, ok := u.o.Log.(edge.Backlogger); ok {
				st.BacklogEvents = h.Held(next) // not what was evicted
			}
			st.BacklogBytes = int64(float64(st.BacklogEvents) * avg)
			if evs, err := u.o.Log.Read(next, 1); err == nil && len(evs) > 0 {
				st.OldestUnsynced = evs[0].Time
			}
		}
	}
	if u.o.Judge != nil {
		st.ClockSkew, st.SkewKnown = u.o.Judge.Skew()
	}
	return st
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
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.st.Reachable = true
		u.st.LastSuccess = now
		u.st.Successes++
		u.lastContact = now
	} else if errors.Is(err, context.Canceled) {
		return // shutdown or the pause switch: not the network's failure
	} else {
		u.st.Failures++
		u.st.LastError = err.Error()
		u.st.LastErrorAt = now
		var ue *Error
		// A response from the central platform (even a refusal) means it is
		// reachable; a proxy's 5xx or a network error means it is not.
		u.st.Reachable = errors.As(err, &ue) && ue.Status != 0 && ue.Status < 500 && !errors.Is(err, errForged)
		if u.st.Reachable {
			u.lastContact = now
		}
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
