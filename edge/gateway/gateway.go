// Package gateway wires the core: it opens the store, builds the drivers,
// outputs and rules a config describes, runs them, and reloads them when a
// new config arrives without losing an event.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
	"github.com/edgegw/edgegw/edge/store"
)

// Component is something that runs beside the core for the gateway's whole
// life: the uplink, the status server.
type Component interface {
	Run(ctx context.Context) error
}

// Options configure a Gateway.
type Options struct {
	Config *config.Config
	// ConfigPath is the file the config came from (for diagnostics).
	ConfigPath string
	Logger     *slog.Logger
	Version    string
	// UplinkUp reports whether the central platform is reachable (SMS
	// actions that run only while it is down). Nil: always down.
	UplinkUp func() bool
	// Logs are the recent log lines (a *status.LogRing) for the support
	// bundle. Nil: the bundle has no logs.txt.
	Logs interface{ Lines() []string }
	// Clock is the time of everything the gateway builds: drivers and
	// outputs (edge.Env.Clock), rules, actions, restarts, the clock judge.
	// Default: the system clock.
	Clock edge.Clock
	// ClockTrust tells whether the OS keeps the clock synchronised (the
	// clock judge's edge.TrustSource). Default: adjtimex on Linux, none
	// elsewhere.
	ClockTrust edge.TrustSource
	// Boot anchors every event in the machine's boot (edge.BootSource).
	// Default: the kernel's boot id and CLOCK_BOOTTIME on Linux, the
	// process's start elsewhere.
	Boot edge.BootSource
}

// Gateway is a running edge gateway.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	store   *store.Store
	judge   *edge.ClockJudge
	meter   *actions.Meter // output calls, kept across reloads
	reg     *registry
	started time.Time

	mu      sync.Mutex
	cfg     *config.Config
	gen     *generation
	comps   []Component
	syncFn  func() edge.SyncStatus
	running bool
	ready   bool
	readyc  chan struct{} // closed once ready
	reloads chan reloadReq
}

// generation is one config's worth of running parts.
type generation struct {
	parts  *parts
	engine *rules.Engine
	runner *actions.Runner
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type reloadReq struct {
	cfg  *config.Config
	done chan error
}

// New opens the store and builds everything the config describes. Nothing
// runs until Run.
func New(o Options) (*Gateway, error) {
	if o.Config == nil {
		return nil, errors.New("gateway: no config")
	}
	if o.Logger == nil {
		o.Logger = edge.DiscardLogger()
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	if o.Boot == nil {
		o.Boot = platformBoot(o.Clock)
	}
	if o.ClockTrust == nil {
		o.ClockTrust = platformTrust()
	}
	cfg := o.Config
	if err := Check(cfg); err != nil {
		return nil, err
	}
	g := &Gateway{
		opts:    o,
		log:     o.Logger,
		reg:     newRegistry(),
		cfg:     cfg,
		reloads: make(chan reloadReq),
		readyc:  make(chan struct{}),
		judge:   &edge.ClockJudge{Clock: o.Clock, Source: o.ClockTrust, Boot: o.Boot},
		meter:   actions.NewMeter(),
	}
	if err := os.MkdirAll(cfg.Store.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory %q: %w: %w", cfg.Store.Dir, edge.ErrStoreOpen, err)
	}
	floor, err := LoadClockFloor(cfg.Store.Dir)
	if err != nil {
		g.log.Warn("clock floor unreadable; using the build date", "err", err)
	}
	g.judge.Floor = floor
	if now := o.Clock.Now(); now.Before(floor.Time()) {
		g.log.Warn("clock is before the last known good time: timestamps are untrusted until it is set",
			"clock", now.UTC().Format(time.RFC3339), "floor", floor.Time().Format(time.RFC3339))
	}
	// Store errors wrap edge.ErrStoreOpen, or edge.ErrDiskFull when the
	// disk has no room even to open the store read-only.
	st, err := store.Open(store.Options{
		Dir:          filepath.Join(cfg.Store.Dir, "log"),
		CapBytes:     int64(cfg.Store.Cap),
		CommitWait:   storeCommitWait(cfg.Store.CommitWait.D()),
		History:      cfg.Store.History.D(),
		GCInterval:   cfg.Store.GCInterval.D(),
		DiskReserve:  int64(cfg.Store.DiskReserve),
		MemoryBudget: int64(cfg.Store.MemoryBudget),
		Logger:       o.Logger.With("component", "store"),
		Judge:        g.judge,
		Clock:        o.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("open store in %q: %w: %w", cfg.Store.Dir, edge.ErrStoreOpen, err)
	}
	g.store = st
	return g, nil
}

// Store is the gateway's durable log.
func (g *Gateway) Store() *store.Store { return g.store }

// Judge is the gateway's clock judge (the uplink reports skew to it).
func (g *Gateway) Judge() *edge.ClockJudge { return g.judge }

// Clock is the gateway's clock, for the components wired beside it (the
// status server, the uplink).
func (g *Gateway) Clock() edge.Clock { return g.opts.Clock }

// Ready returns a channel closed once the store is open and the drivers,
// rules and actions run (what /readyz reports).
func (g *Gateway) Ready() <-chan struct{} { return g.readyc }

// Config returns the config now running.
func (g *Gateway) Config() *config.Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

// Add registers a component to run beside the core. Call before Run.
func (g *Gateway) Add(c Component) { g.comps = append(g.comps, c) }

// SetSyncStatus tells the gateway where to read the uplink's status from.
func (g *Gateway) SetSyncStatus(f func() edge.SyncStatus) { g.syncFn = f }

// Run runs the gateway until ctx ends, then drains and closes the store.
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return errors.New("gateway: already running")
	}
	g.running = true
	g.started = g.opts.Clock.Now()
	g.mu.Unlock()
	defer g.store.Close()

	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	bgWG.Add(2)
	go func() {
		defer bgWG.Done()
		if err := g.store.Run(bg); err != nil && bg.Err() == nil {
			g.log.Error("store maintenance stopped", "err", err)
		}
	}()
	go func() {
		defer bgWG.Done()
		g.keepFloor(bg)
	}()

	gen, err := g.start(g.cfg)
	if err != nil {
		stopBG()
		bgWG.Wait()
		return err
	}
	g.mu.Lock()
	g.gen, g.ready = gen, true
	g.mu.Unlock()
	close(g.readyc)

	compCtx, stopComps := context.WithCancel(ctx)
	var compWG sync.WaitGroup
	for _, c := range g.comps {
		compWG.Add(1)
		go func() {
			defer compWG.Done()
			supervise(compCtx, g.opts.Clock, "component stopped; restarting", c.Run,
				edge.Backoff{Min: time.Second, Max: 30 * time.Second, Clock: g.opts.Clock},
				g.log.With("component", fmt.Sprintf("%T", c)))
		}()
	}
	g.log.Info("gateway running", "gateway", g.cfg.Gateway.ID, "epoch", fmt.Sprintf("%016x", g.store.Epoch()),
		"inputs", len(gen.parts.inputs), "devices", len(gen.parts.devices), "outputs", len(gen.parts.outputs), "rules", gen.parts.rules.Len())

	for {
		select {
		case <-ctx.Done():
			g.log.Info("gateway draining")
			stopComps()
			compWG.Wait()
			g.stop(g.gen)
			stopBG()
			bgWG.Wait()
			g.log.Info("gateway stopped", "last_seq", g.store.LastSeq())
			return nil
		case req := <-g.reloads:
			req.done <- g.swap(req.cfg)
		}
	}
}

// keepFloor raises the clock floor every FloorInterval while the clock is
// confirmed good and saves it when it moved; once more when ctx ends (the
// gateway's shutdown).
func (g *Gateway) keepFloor(ctx context.Context) {
	save := func() {
		if g.judge.RaiseFloor() {
			if err := SaveClockFloor(g.opts.Config.Store.Dir, g.judge.Floor); err != nil {
				g.log.Warn("clock floor not saved", "err", err)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-g.opts.Clock.After(FloorInterval):
			save()
		}
	}
}

// start builds and runs one generation.
func (g *Gateway) start(cfg *config.Config) (*generation, error) {
	p, err := build(cfg, g.log, g.store, g.opts.Clock)
	if err != nil {
		p.close()
		return nil, err
	}
	g.reg.declare(p.devices)
	ctx, cancel := context.WithCancel(context.Background())
	gen := &generation{parts: p, cancel: cancel}
	uplinkUp := g.opts.UplinkUp
	events := locatingLog{Store: g.store, reg: g.reg}
	gen.runner = actions.New(actions.Options{
		Outputs:  p.outputs,
		Log:      events,
		State:    g.store,
		Clock:    g.opts.Clock,
		Logger:   g.log.With("component", "actions"),
		UplinkUp: uplinkUp,
		Meter:    g.meter,
	})
	eng, err := rules.New(rules.Options{
		Set:     p.rules,
		Devices: p.devices,
		Log:     events,
		State:   g.store,
		Clock:   g.opts.Clock,
		Logger:  g.log.With("component", "rules"),
		Actions: gen.runner,
	})
	if err != nil {
		cancel()
		p.close()
		return nil, fmt.Errorf("start rules: %w", err)
	}
	gen.engine = eng
	gen.wg.Add(2)
	go func() {
		defer gen.wg.Done()
		if err := gen.runner.Run(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("action runner stopped", "err", err)
		}
	}()
	go func() {
		defer gen.wg.Done()
		if err := eng.Run(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("rule engine stopped", "err", err)
		}
	}()
	for _, w := range p.runOutputs(ctx, g.log) {
		gen.wg.Add(1)
		go func() { defer gen.wg.Done(); w() }()
	}
	s := sink{log: events, reg: g.reg}
	for _, in := range p.inputs {
		gen.wg.Add(1)
		go func() {
			defer gen.wg.Done()
			superviseDriver(ctx, g.opts.Clock, in.driver, s, g.log.With("input", in.name))
		}()
	}
	return gen, nil
}

// stop ends a generation: drivers first, so that their last events are
// committed; the rule engine and actions after.
func (g *Gateway) stop(gen *generation) {
	if gen == nil {
		return
	}
	gen.cancel()
	gen.wg.Wait()
	gen.parts.close()
}

// swap replaces the running generation with one built from cfg. The new
// config was checked before; if it still fails to start, the old one is
// started again.
func (g *Gateway) swap(cfg *config.Config) error {
	old := g.gen
	g.stop(old)
	gen, err := g.start(cfg)
	if err != nil {
		g.log.Error("new config failed to start; restarting the previous one", "err", err)
		back, err2 := g.start(old.parts.cfg)
		if err2 != nil {
			return errors.Join(err, fmt.Errorf("restart previous config: %w", err2))
		}
		g.mu.Lock()
		g.gen = back
		g.mu.Unlock()
		return err
	}
	g.mu.Lock()
	g.gen, g.cfg = gen, cfg
	g.mu.Unlock()
	g.log.Info("config applied", "devices", len(gen.parts.devices), "rules", gen.parts.rules.Len())
	return nil
}

// Reload checks cfg in full and, only when it is valid, applies it to the
// running gateway.
func (g *Gateway) Reload(ctx context.Context, cfg *config.Config) error {
	if err := compatible(g.Config(), cfg); err != nil {
		return err
	}
	if err := Check(cfg); err != nil {
		return err
	}
	req := reloadReq{cfg: cfg, done: make(chan error, 1)}
	select {
	case g.reloads <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// compatible refuses a new config that would move the gateway's identity or
// its data: those need a restart by an installer, not a remote push.
func compatible(old, cfg *config.Config) error {
	if old.Gateway.ID != cfg.Gateway.ID {
		return cfg.Errorf("gateway.id", "a pushed config may not change the gateway id (%q to %q)", old.Gateway.ID, cfg.Gateway.ID)
	}
	if filepath.Clean(old.Store.Dir) != filepath.Clean(cfg.Store.Dir) {
		return cfg.Errorf("store.dir", "a pushed config may not move the data directory (%q to %q)", old.Store.Dir, cfg.Store.Dir)
	}
	return nil
}

func (g *Gateway) current() *generation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gen
}

// storeCommitWait maps the config's commit_wait, where 0s means commit at
// once, to store.Options, where 0 means the default and negative no wait.
func storeCommitWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
