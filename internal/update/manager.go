package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/wire"
)

// Transport is what the manager needs of the uplink: ranged chunks of an
// artifact and the report endpoint (PROTOCOL.md §6a).
type Transport interface {
	// FetchRelease returns bytes [off, off+n) of the artifact sha256, one
	// signed 206 answer.
	FetchRelease(ctx context.Context, sha256 string, off, n int64) ([]byte, error)
	PostUpdateReport(ctx context.Context, r wire.UpdateReport) error
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Dir Dir
	// Keys are the trusted release keys. None: every offer is refused.
	Keys []wire.ReleasePublicKey
	// MaxSize is the largest artifact downloaded. Default: 256MiB.
	MaxSize int64
	// MaxAttempts is the loader's trial limit, shown in the status.
	MaxAttempts int
	Transport   Transport
	// Version is the running version (internal/version.Version).
	Version string
	// GOOS, GOARCH, GOARM are this build's platform. Default: this build's.
	GOOS, GOARCH, GOARM string
	// StoreSchema is the schema of the open store, ReadsStore the newest
	// schema this build reads. Nil / 0: unknown, not checked.
	StoreSchema func() int
	ReadsStore  int
	// Room, when set, says whether n more bytes fit under dir without
	// cutting into the store's reserve (store.Store.RoomFor): a download
	// that does not fit fails (reported) instead of evicting events.
	Room func(dir string, n int64) error
	// RetryFailed is how long a failed download (a network cut is not one:
	// it is retried at once; a hash mismatch, a full disk) waits before the
	// same offer is tried again. Default: 1h. A refused offer (signature,
	// platform, schema...) is not tried again.
	RetryFailed time.Duration
	// Restart asks the gateway to stop and return ErrRestart. Required.
	Restart func()
	// Trial is the version this process is on trial as (TrialVersion()).
	Trial  string
	Clock  edge.Clock
	Logger *slog.Logger
}

// Manager follows the central platform's release offers: it checks,
// downloads, verifies and stages them, and posts the loader's reports.
// It runs inside the gateway (a component) and implements the uplink's
// update hook (Status, Offer).
type Manager struct {
	o     ManagerOptions
	clk   edge.Clock
	log   *slog.Logger
	wake  chan struct{} // a new offer
	rwake chan struct{} // a new report

	mu    sync.Mutex
	offer *wire.ReleaseOffer
	st    wire.UpdateStatus
	// settled are the offers (sha256+version) refused (for good: zero
	// time) or failed (tried again after RetryFailed, when the heartbeat
	// offers them again).
	settled   map[string]time.Time
	restarted bool
}

// NewManager makes a Manager; Run starts it.
func NewManager(o ManagerOptions) *Manager {
	if o.MaxSize <= 0 {
		o.MaxSize = 256 << 20
	}
	if o.RetryFailed <= 0 {
		o.RetryFailed = time.Hour
	}
	if o.GOOS == "" {
		o.GOOS, o.GOARCH, o.GOARM = runtime.GOOS, runtime.GOARCH, buildGOARM()
	}
	m := &Manager{o: o, clk: o.Clock, log: o.Logger, wake: make(chan struct{}, 1), rwake: make(chan struct{}, 1), settled: map[string]time.Time{}}
	if m.clk == nil {
		m.clk = edge.SystemClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.st = m.initialStatus()
	return m
}

func buildGOARM() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				return strings.SplitN(s.Value, ",", 2)[0]
			}
		}
	}
	return ""
}

// initialStatus reads what the loader left: a trial under way, or the
// outcome of the last one.
func (m *Manager) initialStatus() wire.UpdateStatus {
	st := wire.UpdateStatus{State: wire.UpdateIdle}
	if m.o.Trial != "" {
		st.State, st.Target = wire.UpdateTrial, m.o.Trial
		if t, ok, _ := m.o.Dir.Trial(); ok && t.Version == m.o.Trial {
			st.Attempt, st.Rollout = t.Attempts, t.Rollout
		}
		return st
	}
	if names, _ := m.o.Dir.Reports(); len(names) > 0 {
		if r, err := ReadReport(names[len(names)-1]); err == nil {
			switch {
			case r.Outcome == wire.UpdateRolledBack:
				st.State, st.Target, st.Error, st.Rollout, st.Attempt = r.Outcome, r.To, r.Reason, r.Rollout, r.Attempts
			case r.Outcome == wire.UpdateCommitted && r.To == m.o.Version:
				st.State, st.Target, st.Rollout = r.Outcome, r.To, r.Rollout
			}
		}
	}
	if p, _ := m.o.Dir.Pointers(); p.New != "" {
		st.State, st.Target = wire.UpdateStaged, p.New
	}
	return st
}

// Status is the update part of each heartbeat.
func (m *Manager) Status() wire.UpdateStatus {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	st.Running = m.o.Version
	st.Platform = wire.Platform(m.o.GOOS, m.o.GOARCH, m.o.GOARM)
	if p, err := m.o.Dir.Pointers(); err == nil {
		if st.State == wire.UpdateTrial && p.Current == m.o.Trial {
			st.State = wire.UpdateCommitted // the loader committed this trial
		}
		st.Previous = p.Previous
		if p.Broken != "" {
			st.Broken = []string{p.Broken}
		}
		if man, ok := m.o.Dir.Manifest(p.Current); ok && p.Current == m.o.Version {
			st.Serial = man.Serial
		}
	}
	if m.o.StoreSchema != nil {
		st.StoreSchema = m.o.StoreSchema()
	}
	st.ReadsStore = m.o.ReadsStore
	return st
}

// Offer takes the release offer of a heartbeat answer (nil: none). It
// never blocks.
func (m *Manager) Offer(o *wire.ReleaseOffer) {
	m.mu.Lock()
	m.offer = o
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) current() *wire.ReleaseOffer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offer
}

func (m *Manager) set(f func(st *wire.UpdateStatus)) {
	m.mu.Lock()
	f(&m.st)
	m.mu.Unlock()
}

// SetTransport sets the transport when it is made after the manager
// (the uplink takes the manager as its hook). Call before Run.
func (m *Manager) SetTransport(t Transport) { m.o.Transport = t }

// Run follows offers and posts reports until ctx ends. Without a
// transport it only reports its status.
func (m *Manager) Run(ctx context.Context) error {
	if m.o.Transport == nil {
		m.log.Warn("self-update is configured but the uplink cannot fetch releases")
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.postReports(ctx)
	}()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		}
		if o := m.current(); o != nil {
			m.handle(ctx, o)
		} else {
			m.set(func(st *wire.UpdateStatus) {
				if st.State == wire.UpdateDownloading {
					st.State, st.Target, st.Rollout, st.Have, st.Size = wire.UpdateIdle, "", "", 0, 0
				}
			})
		}
	}
}

// Env is what an offer is judged against.
type Env struct {
	Keys                []wire.ReleasePublicKey
	GOOS, GOARCH, GOARM string
	MaxSize             int64
	Running             string
	RunningSerial       int64 // 0: unknown
	Broken              string
	StoreSchema         int // 0: unknown
	ReadsStore          int // 0: unknown
	ConfigSchema        int // the running build's config.Schema; 0: unknown
}

// ErrRefused wraps every reason Evaluate refuses an offer for.
var ErrRefused = errors.New("release refused")

// Evaluate checks an offer: its manifest's signature, that the offer
// matches it, the platform, the size limit, a broken version, a
// downgrade, the store schemas. It returns the verified manifest.
func Evaluate(o *wire.ReleaseOffer, e Env) (wire.Manifest, error) {
	refuse := func(format string, args ...any) (wire.Manifest, error) {
		return wire.Manifest{}, fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	if len(e.Keys) == 0 {
		return refuse("no release key is trusted (update.keys)")
	}
	m, err := wire.VerifyManifest(o.Manifest, e.Keys)
	if err != nil {
		return refuse("signature: %v", err)
	}
	if m.Version != o.Version || m.SHA256 != o.SHA256 || m.Size != o.Size {
		return refuse("the offer (%s, %s, %d bytes) does not match its manifest (%s, %s, %d bytes)", o.Version, o.SHA256, o.Size, m.Version, m.SHA256, m.Size)
	}
	if err := m.CheckPlatform(e.GOOS, e.GOARCH, e.GOARM); err != nil {
		return refuse("platform: %v", err)
	}
	if m.Size > e.MaxSize {
		return refuse("size limit: %d bytes, update.max_size is %d", m.Size, e.MaxSize)
	}
	if m.Version == e.Broken {
		return refuse("version %s was rolled back on this gateway", m.Version)
	}
	if !o.AllowDowngrade {
		down := false
		if e.RunningSerial > 0 {
			down = m.Serial < e.RunningSerial
		} else if c, ok := CompareVersions(m.Version, e.Running); ok {
			down = c < 0
		}
		if down {
			return refuse("downgrade from %s to %s (the rollout does not allow downgrades)", e.Running, m.Version)
		}
	}
	if e.StoreSchema > 0 && (e.StoreSchema < m.MinStoreSchema || e.StoreSchema > m.StoreSchema) {
		return refuse("store schema: the store is at %d, %s opens %d to %d", e.StoreSchema, m.Version, m.MinStoreSchema, m.StoreSchema)
	}
	if e.ReadsStore > 0 && m.StoreSchema > e.ReadsStore {
		return refuse("store schema: %s writes %d, which %s cannot read after a rollback (it reads up to %d)", m.Version, m.StoreSchema, e.Running, e.ReadsStore)
	}
	if e.ConfigSchema > 0 && m.ConfigSchema > e.ConfigSchema {
		return refuse("config schema: %s reads configs of schema %d and newer, this gateway's is %d (update the config first)", m.Version, m.ConfigSchema, e.ConfigSchema)
	}
	return m, nil
}

// CompareVersions compares dotted numeric versions ("1.4.0", "v1.10",
// "1.5.0-rc1" compares as 1.5.0); ok is false when either is not one.
func CompareVersions(a, b string) (int, bool) {
	pa, oka := versionParts(a)
	pb, okb := versionParts(b)
	if !oka || !okb {
		return 0, false
	}
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	return 0, true
}

func versionParts(v string) ([]int, bool) {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	var out []int
	for _, s := range strings.Split(v, ".") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, len(out) > 0
}

func offerKey(o *wire.ReleaseOffer) string { return o.SHA256 + " " + o.Version }

// handle acts on the offer now current.
func (m *Manager) handle(ctx context.Context, o *wire.ReleaseOffer) {
	if o.Version == m.o.Version || (m.o.Trial != "" && o.Version == m.o.Trial) {
		return // running it (or trying it) already
	}
	p, err := m.o.Dir.Pointers()
	if err != nil {
		m.log.Warn("cannot read the update directory", "err", err)
		return
	}
	if m.o.Trial != "" && p.Current != m.o.Trial {
		// On trial: staging now would restart this process before it
		// proved itself, which the loader counts as a failed attempt.
		return
	}
	if p.New == o.Version {
		m.set(func(st *wire.UpdateStatus) { st.State, st.Target, st.Rollout = wire.UpdateStaged, o.Version, o.Rollout })
		m.restart()
		return
	}
	m.mu.Lock()
	until, done := m.settled[offerKey(o)]
	if done && !until.IsZero() && !m.clk.Now().Before(until) {
		delete(m.settled, offerKey(o))
		done = false
	}
	m.mu.Unlock()
	if done {
		return
	}
	env := Env{Keys: m.o.Keys, GOOS: m.o.GOOS, GOARCH: m.o.GOARCH, GOARM: m.o.GOARM, MaxSize: m.o.MaxSize,
		Running: m.o.Version, Broken: p.Broken, ReadsStore: m.o.ReadsStore, ConfigSchema: config.Schema}
	if man, ok := m.o.Dir.Manifest(p.Current); ok && p.Current == m.o.Version {
		env.RunningSerial = man.Serial
	}
	if m.o.StoreSchema != nil {
		env.StoreSchema = m.o.StoreSchema()
	}
	man, err := Evaluate(o, env)
	if err != nil {
		m.settle(o, wire.UpdateRefused, err)
		return
	}
	if err := m.download(ctx, o, man); err != nil {
		if ctx.Err() != nil || errors.Is(err, errWithdrawn) {
			return
		}
		m.settle(o, wire.UpdateFailed, err)
		return
	}
	m.restart()
}

// settle records an offer that will not be tried again, with a report.
func (m *Manager) settle(o *wire.ReleaseOffer, outcome string, err error) {
	m.log.Warn("release not installed", "version", o.Version, "outcome", outcome, "err", err)
	m.mu.Lock()
	var until time.Time
	if outcome == wire.UpdateFailed {
		until = m.clk.Now().Add(m.o.RetryFailed)
	}
	m.settled[offerKey(o)] = until
	m.st.State, m.st.Target, m.st.Rollout, m.st.Error = outcome, o.Version, o.Rollout, err.Error()
	m.st.Have, m.st.Size = 0, 0
	m.mu.Unlock()
	r := wire.UpdateReport{Rollout: o.Rollout, From: m.o.Version, To: o.Version, Outcome: outcome, Reason: err.Error(), At: m.clk.Now().UTC()}
	if err := m.o.Dir.AddReport(r); err != nil {
		m.log.Warn("cannot queue the update report", "err", err)
	}
	m.wakeReports()
}

func (m *Manager) restart() {
	m.mu.Lock()
	done := m.restarted
	m.restarted = true
	m.mu.Unlock()
	if !done && m.o.Restart != nil {
		m.log.Info("restarting into the staged version")
		m.o.Restart()
	}
}

var errWithdrawn = errors.New("offer withdrawn")

// download fetches the artifact in 1 MiB ranges into
// D/download/<sha>.part, resuming from what the file holds, verifies it
// and stages it as new.
func (m *Manager) download(ctx context.Context, o *wire.ReleaseOffer, man wire.Manifest) error {
	part := m.o.Dir.path("download", man.SHA256+".part")
	if err := os.MkdirAll(m.o.Dir.path("download"), 0o750); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	off := st.Size()
	if off > man.Size {
		off = 0
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if m.o.Room != nil {
		if err := m.o.Room(m.o.Dir.path("download"), man.Size-off); err != nil {
			return fmt.Errorf("download: %w", err)
		}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	m.set(func(st *wire.UpdateStatus) {
		st.State, st.Target, st.Rollout, st.Have, st.Size, st.Error = wire.UpdateDownloading, man.Version, o.Rollout, off, man.Size, ""
	})
	m.log.Info("downloading release", "version", man.Version, "size", man.Size, "from", off)
	b := edge.Backoff{Min: time.Second, Max: 5 * time.Minute, Clock: m.clk}
	for off < man.Size {
		if cur := m.current(); cur == nil || offerKey(cur) != offerKey(o) {
			m.log.Info("release offer withdrawn; download stopped", "version", man.Version, "have", off)
			return errWithdrawn
		}
		n := min(int64(wire.MaxArtifactChunk), man.Size-off)
		chunk, err := m.o.Transport.FetchRelease(ctx, man.SHA256, off, n)
		if err == nil && (len(chunk) == 0 || int64(len(chunk)) > n) {
			err = fmt.Errorf("chunk at %d: %d bytes, asked for %d", off, len(chunk), n)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.set(func(st *wire.UpdateStatus) { st.Error = err.Error() })
			m.log.Warn("release download failed; retrying", "version", man.Version, "have", off, "err", err)
			if err := b.Wait(ctx); err != nil {
				return err
			}
			continue
		}
		b.Reset()
		if _, err := f.Write(chunk); err != nil {
			return fmt.Errorf("download: %w", err)
		}
		off += int64(len(chunk))
		m.set(func(st *wire.UpdateStatus) { st.Have, st.Error = off, "" })
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	f.Close()
	return m.stage(o, man, part)
}

// stage verifies the whole artifact and makes it the new version.
func (m *Manager) stage(o *wire.ReleaseOffer, man wire.Manifest, part string) error {
	if err := man.VerifyArtifact(part); err != nil {
		os.Remove(part)
		return fmt.Errorf("verify: %w", err)
	}
	vdir := m.o.Dir.path("versions", man.Version)
	if err := os.RemoveAll(vdir); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.MkdirAll(vdir, 0o750); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := writeFileAtomic(m.o.Dir.path("versions", man.Version, "manifest.json"), bytes.TrimSpace(o.Manifest), 0o640); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	bin := m.o.Dir.Binary(man.Version)
	if err := os.Rename(part, bin); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	syncDir(vdir)
	if err := m.o.Dir.SetTrial(Trial{Version: man.Version, Rollout: o.Rollout, From: m.o.Version}); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := m.o.Dir.SetPointer(New, man.Version); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	m.log.Info("release verified and staged", "version", man.Version)
	m.set(func(st *wire.UpdateStatus) {
		st.State, st.Target, st.Have, st.Size, st.Error = wire.UpdateStaged, man.Version, man.Size, man.Size, ""
	})
	return nil
}

func (m *Manager) wakeReports() {
	select {
	case m.rwake <- struct{}{}:
	default:
	}
}

// postReports posts the pending reports, oldest first, until each gets a
// 2xx, then deletes it.
func (m *Manager) postReports(ctx context.Context) {
	b := edge.Backoff{Min: 5 * time.Second, Max: 10 * time.Minute, Clock: m.clk}
	for {
		names, err := m.o.Dir.Reports()
		if err != nil {
			m.log.Warn("cannot list update reports", "err", err)
		}
		failed := false
		for _, name := range names {
			r, err := ReadReport(name)
			if err != nil {
				m.log.Warn("dropping an unreadable update report", "file", name, "err", err)
				os.Remove(name)
				continue
			}
			if err := m.o.Transport.PostUpdateReport(ctx, r); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.log.Warn("update report not delivered; retrying", "to", r.To, "outcome", r.Outcome, "err", err)
				failed = true
				break
			}
			b.Reset()
			if err := os.Remove(name); err != nil {
				m.log.Warn("cannot remove a delivered update report", "file", name, "err", err)
			}
		}
		if failed {
			if b.Wait(ctx) != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-m.rwake:
		}
	}
}
