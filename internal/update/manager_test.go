package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/sync/wire"
)

// memTransport serves one artifact from memory, the way the uplink serves
// GET /v1/releases/{sha256} ranges, and records the reports posted.
type memTransport struct {
	art []byte
	sha string

	mu       sync.Mutex
	offsets  []int64
	reports  []wire.UpdateReport
	failPost int           // posts to fail before one succeeds
	gate     chan struct{} // when set, the fetch at gateAt waits for it
	gateAt   int64
	corrupt  bool
}

func (m *memTransport) FetchRelease(ctx context.Context, sha string, off, n int64) ([]byte, error) {
	m.mu.Lock()
	m.offsets = append(m.offsets, off)
	gate := m.gate
	m.mu.Unlock()
	if gate != nil && off == m.gateAt {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if sha != m.sha {
		return nil, errors.New("404 unknown release")
	}
	b := append([]byte(nil), m.art[off:min(off+n, int64(len(m.art)))]...)
	if m.corrupt {
		b[0] ^= 0xff
	}
	return b, nil
}

func (m *memTransport) PostUpdateReport(ctx context.Context, r wire.UpdateReport) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPost > 0 {
		m.failPost--
		return errors.New("503 overloaded")
	}
	m.reports = append(m.reports, r)
	return nil
}

func (m *memTransport) posted() []wire.UpdateReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]wire.UpdateReport(nil), m.reports...)
}

type managerRig struct {
	d       Dir
	tr      *memTransport
	m       *Manager
	clk     *fakeclock.Clock
	restart chan struct{}
	offer   *wire.ReleaseOffer
	man     wire.Manifest
	stop    func()
}

func newManagerRig(t *testing.T, edit func(*wire.Manifest), opts ...func(*ManagerOptions)) *managerRig {
	t.Helper()
	key, pub, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	art := bytes.Repeat([]byte("edgegw-2.0.0 "), 200_000) // 2.6 MB: three chunks
	offer, man := release(t, key, art, edit)
	r := &managerRig{d: Dir(t.TempDir()), tr: &memTransport{art: art, sha: man.SHA256}, clk: fakeclock.New(time.Unix(1765000000, 0)),
		restart: make(chan struct{}, 4), offer: offer, man: man}
	mo := ManagerOptions{Dir: r.d, Keys: []wire.ReleasePublicKey{pub}, Transport: r.tr, Version: "1.4.0",
		GOOS: "linux", GOARCH: "arm", GOARM: "7", Clock: r.clk, Restart: func() { r.restart <- struct{}{} }}
	for _, o := range opts {
		o(&mo)
	}
	r.m = NewManager(mo)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.m.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

func (r *managerRig) waitState(t *testing.T, state string) wire.UpdateStatus {
	t.Helper()
	var st wire.UpdateStatus
	waitFor(t, "state "+state, func() bool { st = r.m.Status(); return st.State == state })
	return st
}

func TestManagerResumesDownloadAndStages(t *testing.T) {
	r := newManagerRig(t, nil)
	// a download cut short by a restart: 1.5 MB already here
	have := int64(1_500_000)
	if err := os.MkdirAll(r.d.path("download"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.d.path("download", r.man.SHA256+".part"), r.tr.art[:have], 0o640); err != nil {
		t.Fatal(err)
	}
	r.m.Offer(r.offer)
	select {
	case <-r.restart:
	case <-time.After(30 * time.Second):
		t.Fatal("the manager never asked for a restart")
	}
	st := r.m.Status()
	if st.State != wire.UpdateStaged || st.Target != "2.0.0" || st.Have != r.man.Size || st.Running != "1.4.0" || st.Platform != "linux/arm/7" {
		t.Errorf("status: got %+v", st)
	}
	if r.tr.offsets[0] != have {
		t.Errorf("first range at %d, want %d (resumed)", r.tr.offsets[0], have)
	}
	got, err := os.ReadFile(r.d.Binary("2.0.0"))
	if err != nil || !bytes.Equal(got, r.tr.art) {
		t.Fatalf("staged binary: %d bytes, err %v", len(got), err)
	}
	if fi, _ := os.Stat(r.d.Binary("2.0.0")); fi.Mode().Perm() != 0o755 {
		t.Errorf("staged binary mode %v, want 0755", fi.Mode().Perm())
	}
	if p := pointers(t, r.d); p.New != "2.0.0" {
		t.Errorf("new: got %q", p.New)
	}
	if tr, ok, _ := r.d.Trial(); !ok || tr.Version != "2.0.0" || tr.Attempts != 0 || tr.Rollout != "r-1" || tr.From != "1.4.0" {
		t.Errorf("trial: got %+v", tr)
	}
	if m, ok := r.d.Manifest("2.0.0"); !ok || m.SHA256 != r.man.SHA256 {
		t.Errorf("manifest kept beside the binary: %+v, %v", m, ok)
	}
	// the next heartbeat offers the same: no second download, no second restart request
	r.m.Offer(r.offer)
	r.m.Offer(r.offer)
	r.stop()
	if n := len(r.tr.offsets); n != 2 {
		t.Errorf("ranges fetched: %d, want 2", n)
	}
	if len(r.restart) != 0 {
		t.Error("restart asked for twice")
	}
}

func TestManagerStopsWhenOfferWithdrawn(t *testing.T) {
	r := newManagerRig(t, nil)
	r.tr.gate, r.tr.gateAt = make(chan struct{}), wire.MaxArtifactChunk
	r.m.Offer(r.offer)
	waitFor(t, "the second range", func() bool { r.tr.mu.Lock(); defer r.tr.mu.Unlock(); return len(r.tr.offsets) == 2 })
	r.m.Offer(nil) // the heartbeat answer carries no release any more
	close(r.tr.gate)
	r.waitState(t, wire.UpdateIdle)
	r.stop()
	fi, err := os.Stat(r.d.path("download", r.man.SHA256+".part"))
	if err != nil || fi.Size() != 2*wire.MaxArtifactChunk {
		t.Errorf("partial download kept for a resume: %v, %v", fi, err)
	}
	if p := pointers(t, r.d); p.New != "" {
		t.Errorf("staged %q after a withdrawal", p.New)
	}
	if len(r.restart) != 0 {
		t.Error("restart asked for after a withdrawal")
	}
}

func TestManagerRefusesOnceAndReports(t *testing.T) {
	r := newManagerRig(t, func(m *wire.Manifest) { m.Arch, m.GOARM = "amd64", "" })
	for range 3 {
		r.m.Offer(r.offer)
	}
	st := r.waitState(t, wire.UpdateRefused)
	if st.Target != "2.0.0" || st.Error == "" {
		t.Errorf("status: got %+v", st)
	}
	waitFor(t, "the report", func() bool { return len(r.tr.posted()) == 1 })
	r.m.Offer(r.offer)
	r.stop()
	rs := r.tr.posted()
	if len(rs) != 1 || rs[0].Outcome != wire.UpdateRefused || rs[0].From != "1.4.0" || rs[0].To != "2.0.0" || rs[0].Rollout != "r-1" {
		t.Errorf("reports: got %+v, want one refusal", rs)
	}
	if names, _ := r.d.Reports(); len(names) != 0 {
		t.Errorf("delivered reports left on disk: %v", names)
	}
	if len(r.tr.offsets) != 0 {
		t.Error("a refused release was downloaded")
	}
}

func TestManagerBadArtifactFails(t *testing.T) {
	r := newManagerRig(t, nil)
	r.tr.corrupt = true
	r.m.Offer(r.offer)
	st := r.waitState(t, wire.UpdateFailed)
	waitFor(t, "the report", func() bool { return len(r.tr.posted()) == 1 })
	r.stop()
	if !strings.Contains(st.Error, "hash mismatch") {
		t.Errorf("error: got %q, want a hash mismatch", st.Error)
	}
	if _, err := os.Stat(r.d.path("download", r.man.SHA256+".part")); !os.IsNotExist(err) {
		t.Errorf("a corrupt download was kept: %v", err)
	}
	if p := pointers(t, r.d); p.New != "" {
		t.Errorf("staged %q from a corrupt download", p.New)
	}
}

// A failed download is not tried again at every heartbeat, but it is after
// RetryFailed: the next good copy stages.
func TestManagerRetriesFailedLater(t *testing.T) {
	r := newManagerRig(t, nil)
	r.tr.mu.Lock()
	r.tr.corrupt = true
	r.tr.mu.Unlock()
	r.m.Offer(r.offer)
	r.waitState(t, wire.UpdateFailed)
	r.tr.mu.Lock()
	r.tr.corrupt = false
	fetched := len(r.tr.offsets)
	r.tr.mu.Unlock()
	r.m.Offer(r.offer) // the next heartbeat: still settled
	r.clk.Advance(59 * time.Minute)
	r.m.Offer(r.offer)
	if st := r.m.Status(); st.State != wire.UpdateFailed {
		t.Fatalf("state %s before RetryFailed, want failed", st.State)
	}
	r.tr.mu.Lock()
	again := len(r.tr.offsets) - fetched
	r.tr.mu.Unlock()
	if again != 0 {
		t.Fatalf("%d chunks fetched again before RetryFailed", again)
	}
	r.clk.Advance(2 * time.Minute)
	r.m.Offer(r.offer)
	select {
	case <-r.restart:
	case <-time.After(30 * time.Second):
		t.Fatalf("not staged after RetryFailed: %+v", r.m.Status())
	}
	if p := pointers(t, r.d); p.New != r.man.Version {
		t.Errorf("staged %q, want %s", p.New, r.man.Version)
	}
}

// A release that does not fit beside the store's reserve is not
// downloaded: the events come first. The failure is reported.
func TestManagerNoRoomFails(t *testing.T) {
	var asked atomic.Int64
	r := newManagerRig(t, nil, func(o *ManagerOptions) {
		o.Room = func(dir string, n int64) error {
			asked.Store(n)
			return fmt.Errorf("%w: %s needs %d bytes", edge.ErrDiskFull, dir, n)
		}
	})
	r.m.Offer(r.offer)
	st := r.waitState(t, wire.UpdateFailed)
	waitFor(t, "the report", func() bool { return len(r.tr.posted()) == 1 })
	r.stop()
	if !strings.Contains(st.Error, "disk full") && !strings.Contains(st.Error, edge.ErrDiskFull.Error()) {
		t.Errorf("error: got %q, want the disk-full reason", st.Error)
	}
	if asked.Load() != r.man.Size {
		t.Errorf("room asked for %d bytes, want the artifact's %d", asked.Load(), r.man.Size)
	}
	r.tr.mu.Lock()
	got := len(r.tr.offsets)
	r.tr.mu.Unlock()
	if got != 0 {
		t.Errorf("%d chunks fetched without room", got)
	}
}

// Reports the loader left are posted, retried with backoff on the clock
// until the central answers, then deleted.
func TestManagerPostsPendingReports(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.AddReport(wire.UpdateReport{From: "1.4.0", To: "2.0.0", Outcome: wire.UpdateRolledBack, Reason: "crashed", LogTail: "boom"}); err != nil {
		t.Fatal(err)
	}
	tr := &memTransport{failPost: 1}
	clk := fakeclock.New(time.Unix(1765000000, 0))
	m := NewManager(ManagerOptions{Dir: d, Transport: tr, Version: "1.4.0", Clock: clk})
	if st := m.Status(); st.State != wire.UpdateRolledBack || st.Target != "2.0.0" {
		t.Errorf("status from the pending report: got %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	if !clk.BlockUntil(1, 30*time.Second) {
		t.Fatal("no backoff after a failed post")
	}
	if len(tr.posted()) != 0 {
		t.Fatal("posted before the backoff")
	}
	clk.Advance(time.Hour)
	waitFor(t, "the retried report", func() bool { return len(tr.posted()) == 1 })
	waitFor(t, "the report file removed", func() bool { n, _ := d.Reports(); return len(n) == 0 })
	if r := tr.posted()[0]; r.LogTail != "boom" || r.Outcome != wire.UpdateRolledBack {
		t.Errorf("posted: got %+v", r)
	}
}

// A version on trial takes no offer until the loader committed it: a
// restart now would count as a failed attempt.
func TestManagerOnTrialWaitsForCommit(t *testing.T) {
	key, pub, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	art := []byte("edgegw 3.0.0")
	offer, man := release(t, key, art, func(m *wire.Manifest) { m.Version = "3.0.0" })
	d := Dir(t.TempDir())
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetTrial(Trial{Version: "2.0.0", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	tr := &memTransport{art: art, sha: man.SHA256}
	restart := make(chan struct{}, 1)
	m := NewManager(ManagerOptions{Dir: d, Keys: []wire.ReleasePublicKey{pub}, Transport: tr, Version: "2.0.0", Trial: "2.0.0",
		GOOS: "linux", GOARCH: "arm", GOARM: "7", Clock: fakeclock.New(time.Unix(1765000000, 0)), Restart: func() { restart <- struct{}{} }})
	if st := m.Status(); st.State != wire.UpdateTrial || st.Attempt != 1 {
		t.Fatalf("status on trial: got %+v", st)
	}
	// handle directly: Run would do the same on its goroutine
	m.Offer(offer)
	m.handle(context.Background(), offer)
	if len(tr.offsets) != 0 || len(restart) != 0 {
		t.Fatal("a version on trial downloaded an offer")
	}
	// the loader commits 2.0.0
	if err := errors.Join(d.SetPointer(Current, "2.0.0"), d.SetPointer(New, "")); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != wire.UpdateCommitted {
		t.Errorf("status after the commit: got %q, want committed", st.State)
	}
	m.handle(context.Background(), offer)
	if len(restart) != 1 {
		t.Fatal("the committed version did not stage the offer")
	}
	if p := pointers(t, d); p.New != "3.0.0" {
		t.Errorf("new: got %q, want 3.0.0", p.New)
	}
}
