package update

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/sync/wire"
)

// syncBuffer is a bytes.Buffer safe for the loader's copy goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newDir makes an update directory whose versions are this test binary.
func newDir(t *testing.T, versions ...string) Dir {
	t.Helper()
	d := Dir(t.TempDir())
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if err := os.MkdirAll(d.path("versions", v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(self, d.Binary(v)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(envDir, string(d))
	return d
}

func testLoader(d Dir, out *syncBuffer) *Loader {
	return &Loader{Dir: d, Args: []string{"service", "run"}, Version: "1.0.0", HealthTimeout: 20 * time.Second,
		MaxAttempts: 3, StopTimeout: 5 * time.Second, Poll: 20 * time.Millisecond, Stderr: out}
}

// waitFor checks cond (files another process writes: no channel tells
// when) on every tick until it holds, for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func pointers(t *testing.T, d Dir) Pointers {
	t.Helper()
	p, err := d.Pointers()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func reports(t *testing.T, d Dir) []wire.UpdateReport {
	t.Helper()
	names, err := d.Reports()
	if err != nil {
		t.Fatal(err)
	}
	var rs []wire.UpdateReport
	for _, n := range names {
		r, err := ReadReport(n)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

type run struct {
	cancel context.CancelFunc
	done   chan error
}

func startLoader(l *Loader, inProcess func(ctx context.Context) error) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- l.Run(ctx, inProcess) }()
	return r
}

func (r *run) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the loader did not stop")
		return nil
	}
}

func noInProcess(t *testing.T) func(context.Context) error {
	return func(context.Context) error {
		t.Error("the gateway ran in-process")
		return nil
	}
}

func TestLoaderCommitsHealthyVersion(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHealthy})
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetTrial(Trial{Version: "2.0.0", Rollout: "r-1", From: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	r := startLoader(testLoader(d, out), noInProcess(t))
	waitFor(t, "the commit", func() bool { p, _ := d.Pointers(); return p.Current == "2.0.0" && p.New == "" })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The installed binary (1.0.0) is kept beside it as previous.
	if p := pointers(t, d); p != (Pointers{Current: "2.0.0", Previous: "1.0.0"}) {
		t.Errorf("pointers: got %+v, want current 2.0.0, previous 1.0.0", p)
	}
	if _, err := os.Stat(d.Binary("1.0.0")); err != nil {
		t.Errorf("the installed binary was not kept as version 1.0.0: %v", err)
	}
	if _, ok, _ := d.Trial(); ok {
		t.Error("trial.json is still there after the commit")
	}
	rs := reports(t, d)
	if len(rs) != 1 || rs[0].Outcome != wire.UpdateCommitted || rs[0].To != "2.0.0" || rs[0].From != "1.0.0" || rs[0].Rollout != "r-1" || rs[0].Attempts != 1 {
		t.Errorf("reports: got %+v, want one committed 1.0.0 -> 2.0.0 of rollout r-1 on attempt 1", rs)
	}
	if !strings.Contains(out.String(), `fake gateway 2.0.0: healthy (trial "2.0.0")`) {
		t.Errorf("the child's output did not reach the loader's stderr: %q", out.String())
	}
}

func TestLoaderRollsBackAfterCrashes(t *testing.T) {
	d := newDir(t, "1.0.0", "2.0.0")
	setBehaviour(t, d, map[string]string{"1.0.0": behHealthy, "2.0.0": behCrash})
	for name, v := range map[string]string{Current: "1.0.0", New: "2.0.0"} {
		if err := d.SetPointer(name, v); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	r := startLoader(testLoader(d, out), noInProcess(t))
	waitFor(t, "the rollback", func() bool { p, _ := d.Pointers(); return p.Broken == "2.0.0" && p.New == "" })
	// current runs again: its (non-trial) start line shows in the output
	waitFor(t, "1.0.0 running again", func() bool { return strings.Contains(out.String(), `fake gateway 1.0.0: healthy (trial "")`) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p := pointers(t, d); p != (Pointers{Current: "1.0.0", Broken: "2.0.0"}) {
		t.Errorf("pointers: got %+v", p)
	}
	if _, err := os.Stat(d.Binary("2.0.0")); err != nil {
		t.Errorf("the broken version's directory is gone: %v", err)
	}
	rs := reports(t, d)
	if len(rs) != 1 {
		t.Fatalf("reports: got %d, want 1: %+v", len(rs), rs)
	}
	rep := rs[0]
	if rep.Outcome != wire.UpdateRolledBack || rep.From != "1.0.0" || rep.To != "2.0.0" || rep.Attempts != 3 {
		t.Errorf("report: got %+v", rep)
	}
	if len(rep.ExitCodes) != 3 || rep.ExitCodes[0] != 1 || rep.ExitCodes[2] != 1 {
		t.Errorf("exit codes: got %v, want [1 1 1]", rep.ExitCodes)
	}
	if !strings.Contains(rep.LogTail, "boom: version 2.0.0 cannot start") {
		t.Errorf("log tail: got %q, want the crash's stderr", rep.LogTail)
	}
	if !strings.Contains(rep.Reason, "exited with status 1") {
		t.Errorf("reason: got %q", rep.Reason)
	}
}

func TestLoaderHealthTimeout(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHang})
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	l := testLoader(d, &syncBuffer{})
	l.HealthTimeout, l.MaxAttempts = 200*time.Millisecond, 2
	ran := make(chan struct{})
	r := startLoader(l, func(ctx context.Context) error {
		close(ran) // rolled back to the installed binary: in-process
		<-ctx.Done()
		return nil
	})
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the loader never fell back to the installed version")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rs := reports(t, d)
	if len(rs) != 1 || rs[0].Outcome != wire.UpdateRolledBack || rs[0].Attempts != 2 || !strings.Contains(rs[0].Reason, "not healthy within 200ms") {
		t.Fatalf("reports: got %+v", rs)
	}
	if p := pointers(t, d); p != (Pointers{Broken: "2.0.0"}) {
		t.Errorf("pointers: got %+v", p)
	}
}

// A loader killed mid-trial (SIGKILL: no chance to write anything) has
// still spent the attempt: the next loader starts attempt 2.
func TestLoaderKilledMidTrialCountsAttempt(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHang})
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "UPDATE_TEST_LOADER=1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trial's child", func() bool { return strings.Contains(out.String(), `fake gateway 2.0.0: hang`) })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	tr, ok, err := d.Trial()
	if err != nil || !ok || tr.Attempts != 1 {
		t.Fatalf("trial after SIGKILL: got %+v ok=%v err=%v, want attempts 1", tr, ok, err)
	}
	// The orphaned child got SIGTERM from the kernel (Pdeathsig); the
	// killed loader left its pid, which the next loader waits on.
	b, err := os.ReadFile(d.path(childPIDFile))
	if err != nil {
		t.Fatalf("the killed loader left no child pid: %v", err)
	}
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(b)))

	setBehaviour(t, d, map[string]string{"2.0.0": behHealthy})
	r := startLoader(testLoader(d, &syncBuffer{}), noInProcess(t))
	waitFor(t, "the commit", func() bool { p, _ := d.Pointers(); return p.Current == "2.0.0" })
	if runtime.GOOS == "linux" && isGatewayChild(orphan) {
		t.Errorf("the orphan %d still runs beside the new loader's child", orphan)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(d.path(childPIDFile)); !os.IsNotExist(err) {
		t.Errorf("child pid file after a clean stop: %v", err)
	}
	rs := reports(t, d)
	if len(rs) != 1 || rs[0].Outcome != wire.UpdateCommitted || rs[0].Attempts != 2 {
		t.Fatalf("reports: got %+v, want committed on attempt 2", rs)
	}
}

// A committed version that stages a new one exits ExitRestart; the loader
// goes straight into the trial.
func TestLoaderExitRestartLoopsIntoTrial(t *testing.T) {
	d := newDir(t, "1.0.0", "2.0.0")
	setBehaviour(t, d, map[string]string{"1.0.0": behStage, "stage": "2.0.0", "2.0.0": behHealthy})
	if err := d.SetPointer(Current, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	// an older version and a stale download, pruned by the commit
	if err := errors.Join(os.MkdirAll(d.path("versions", "0.9.0"), 0o755), os.MkdirAll(d.path("download"), 0o755),
		os.WriteFile(d.path("download", "x.part"), []byte("x"), 0o644)); err != nil {
		t.Fatal(err)
	}
	r := startLoader(testLoader(d, &syncBuffer{}), noInProcess(t))
	waitFor(t, "the commit", func() bool { p, _ := d.Pointers(); return p.Current == "2.0.0" })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p := pointers(t, d); p != (Pointers{Current: "2.0.0", Previous: "1.0.0"}) {
		t.Errorf("pointers: got %+v", p)
	}
	if vs, _ := d.Versions(); len(vs) != 2 || vs[0] != "1.0.0" || vs[1] != "2.0.0" {
		t.Errorf("versions after the commit: got %v, want [1.0.0 2.0.0]", vs)
	}
	if _, err := os.Stat(d.path("download")); !os.IsNotExist(err) {
		t.Errorf("downloads left after the commit: %v", err)
	}
}

// The first update: the installed binary runs in-process, stages a version
// and returns ErrRestart; the loader tries it without exiting.
func TestLoaderInProcessRestart(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHealthy})
	calls := 0
	r := startLoader(testLoader(d, &syncBuffer{}), func(ctx context.Context) error {
		calls++
		if err := d.SetPointer(New, "2.0.0"); err != nil {
			return err
		}
		return ErrRestart
	})
	waitFor(t, "the commit", func() bool { p, _ := d.Pointers(); return p.Current == "2.0.0" })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if calls != 1 {
		t.Errorf("in-process runs: got %d, want 1", calls)
	}
	rs := reports(t, d)
	if len(rs) != 1 || rs[0].From != "1.0.0" {
		t.Errorf("reports: got %+v, want one from the installed 1.0.0", rs)
	}
}

// A committed child's exit status is the loader's (the service manager
// reads it: 78 is not restarted).
func TestLoaderPassesExitStatus(t *testing.T) {
	d := newDir(t, "1.0.0")
	setBehaviour(t, d, map[string]string{"1.0.0": behExit78})
	if err := d.SetPointer(Current, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	r := startLoader(testLoader(d, &syncBuffer{}), noInProcess(t))
	var err error
	select {
	case err = <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the loader did not exit")
	}
	var ee *cli.ExitError
	if !errors.As(err, &ee) || cli.ExitCode(err) != 78 {
		t.Fatalf("Run: got %v, want exit status 78", err)
	}
}

func TestPointersAreSymlinks(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.SetPointer(Current, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(d.path(Current))
	if err != nil || target != filepath.Join("versions", "1.2.3") {
		t.Fatalf("current: got %q, %v", target, err)
	}
	if err := d.SetPointer(Current, "../x"); err == nil {
		t.Error("a version with a separator was accepted")
	}
}

// A current version whose binary is gone: the installed one runs rather
// than no gateway at all.
func TestLoaderMissingCurrentRunsInstalled(t *testing.T) {
	d := newDir(t)
	if err := d.SetPointer(Current, "1.5.0"); err != nil {
		t.Fatal(err)
	}
	ran := false
	l := testLoader(d, &syncBuffer{})
	if err := l.Run(context.Background(), func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Run: %v, in-process %v", err, ran)
	}
}

// A trial that proved healthy and then exited is committed all the same;
// its exit status is the loader's.
func TestLoaderHealthyThenExitCommits(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHealthyExit})
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	l := testLoader(d, &syncBuffer{})
	l.Poll = time.Hour // only the exit can notice the health
	err := l.Run(context.Background(), noInProcess(t))
	if cli.ExitCode(err) != 3 {
		t.Fatalf("Run: got %v, want exit status 3", err)
	}
	if p := pointers(t, d); p.Current != "2.0.0" || p.New != "" {
		t.Errorf("pointers: got %+v, want 2.0.0 committed", p)
	}
}

// The health deadline runs on the loader's clock: a fake one moved past
// it fails the attempt without any real wait.
func TestLoaderHealthTimeoutOnFakeClock(t *testing.T) {
	d := newDir(t, "2.0.0")
	setBehaviour(t, d, map[string]string{"2.0.0": behHang})
	if err := d.SetPointer(New, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	l := testLoader(d, out)
	clk := fakeclock.New(time.Unix(1765000000, 0))
	l.Clock, l.HealthTimeout, l.MaxAttempts, l.Poll = clk, 2*time.Minute, 1, time.Hour
	ran := make(chan struct{})
	r := startLoader(l, func(ctx context.Context) error { close(ran); <-ctx.Done(); return nil })
	waitFor(t, "the trial's child", func() bool { return strings.Contains(out.String(), "fake gateway 2.0.0: hang") })
	if !clk.BlockUntil(2, 30*time.Second) { // the health deadline and the poll
		t.Fatal("the loader is not waiting on its clock")
	}
	if _, ok, _ := d.Trial(); !ok {
		t.Fatal("no trial.json during the trial")
	}
	clk.Advance(2 * time.Minute)
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("no rollback after the health deadline")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rs := reports(t, d)
	if len(rs) != 1 || rs[0].Outcome != wire.UpdateRolledBack || !strings.Contains(rs[0].Reason, "not healthy within 2m0s") {
		t.Fatalf("reports: got %+v", rs)
	}
	if !rs[0].At.Equal(clk.Now().UTC()) {
		t.Errorf("report time: got %v, want the loader's clock %v", rs[0].At, clk.Now())
	}
}
