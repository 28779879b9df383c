//go:build unix

package serialport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the other process that holds a port: with
// helperEnv set it opens the port, says "open", and holds it until its
// stdin closes.
const (
	helperEnv     = "SERIALPORT_TEST_HOLD"
	helperLockEnv = "SERIALPORT_TEST_LOCKDIR"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(hold(path, os.Getenv(helperLockEnv)))
	}
	os.Exit(m.Run())
}

func hold(path, dir string) int {
	o := &Opener{LockDir: dir}
	p, err := o.Open(path, &serial.Mode{BaudRate: 9600})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	p.Close()
	return 0
}

// holder starts another process holding path (lock file in dir) and
// returns its pid; the process ends with the test.
func holder(t *testing.T, path, dir string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperLockEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "open" {
			t.Fatalf("holder: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("holder did not open the port in 10s")
	}
	return cmd.Process.Pid
}

func mode() *serial.Mode { return &serial.Mode{BaudRate: 9600} }

func lockPath(t *testing.T, dir, path string) string {
	t.Helper()
	return filepath.Join(dir, LockName(devicePath(path)))
}

func TestLockFileWrittenAndRemoved(t *testing.T) {
	pair := ptytest.New(t)
	dir := t.TempDir()
	o := &Opener{LockDir: dir}
	p, err := o.Open(pair.Path(), mode())
	if err != nil {
		t.Fatal(err)
	}
	lf := lockPath(t, dir, pair.Path())
	b, err := os.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), fmt.Sprintf("%10d\n", os.Getpid()); got != want {
		t.Errorf("lock file %s: got %q, want %q", lf, got, want)
	}
	if fi, _ := os.Stat(lf); fi.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("lock file mode %v: want it readable by all", fi.Mode())
	}
	if pid, name, ok := o.Holder(pair.Path()); !ok || pid != os.Getpid() || name == "" {
		t.Errorf("Holder: got %d %q %v, want this process", pid, name, ok)
	}
	// The port works.
	if _, err := p.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	pair.Expect([]byte("hi"), 5*time.Second)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Close() // twice is fine
	if _, err := os.Stat(lf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after close: %v, want it gone", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the lock dir: %v", ents)
	}
	// And it opens again.
	p, err = o.Open(pair.Path(), mode())
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestSecondOpenInProcessRefused(t *testing.T) {
	pair := ptytest.New(t)
	o := &Opener{LockDir: t.TempDir()}
	p, err := o.Open(pair.Path(), mode())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Through the resolved name too.
	for _, path := range []string{pair.Path(), devicePath(pair.Path())} {
		_, err := o.Open(path, mode())
		var ie *InUseError
		if !errors.As(err, &ie) || !ie.Self || !errors.Is(err, edge.ErrPortInUse) {
			t.Fatalf("%s: got %v, want an in-use error for this process", path, err)
		}
	}
}

// TestHeldByAnotherProcess: the lock file of a live process refuses the
// open within a moment, naming the holder, and leaves the holder alone.
func TestHeldByAnotherProcess(t *testing.T) {
	pair := ptytest.New(t)
	dir := t.TempDir()
	pid := holder(t, pair.Path(), dir)
	o := &Opener{LockDir: dir}
	start := time.Now()
	_, err := o.Open(pair.Path(), mode())
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused after %v, want within 5s", d)
	}
	var ie *InUseError
	if !errors.As(err, &ie) || !errors.Is(err, edge.ErrPortInUse) {
		t.Fatalf("got %v, want an *InUseError", err)
	}
	if ie.PID != pid || ie.Name == "" || ie.Detail != "" {
		t.Errorf("got %+v, want pid %d named from /proc, found by the lock file", ie, pid)
	}
	want := fmt.Sprintf("port %s is in use by %s (pid %d)", pair.Path(), ie.Name, pid)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err, want)
	}
	if b, _ := os.ReadFile(lockPath(t, dir, pair.Path())); !bytes.Contains(b, []byte(strconv.Itoa(pid))) {
		t.Errorf("the holder's lock file was touched: %q", b)
	}
}

// TestExclusiveModeWithoutLockFile: a process that holds the port in
// exclusive mode with its lock file elsewhere (or none) is still seen,
// though this test runs as root, whom the kernel lets through.
func TestExclusiveModeWithoutLockFile(t *testing.T) {
	pair := ptytest.New(t)
	pid := holder(t, pair.Path(), t.TempDir())
	_, err := (&Opener{LockDir: t.TempDir()}).Open(pair.Path(), mode())
	var ie *InUseError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an *InUseError", err)
	}
	if ie.Detail == "" || !strings.Contains(err.Error(), "exclusive mode") {
		t.Errorf("got %q, want it to say exclusive mode", err)
	}
	if os.Getuid() == 0 && ie.PID != pid {
		t.Errorf("holder pid %d, want %d (root reads /proc of every process)", ie.PID, pid)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if alive(pid) {
		t.Skipf("pid %d was reused at once", pid)
	}
	return pid
}

func captureLog() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

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

func TestStaleLockTakenOver(t *testing.T) {
	pair := ptytest.New(t)
	dir := t.TempDir()
	lf := lockPath(t, dir, pair.Path())
	log, buf := captureLog()
	o := &Opener{LockDir: dir, Log: log}
	for _, tc := range []struct {
		name    string
		content []byte
		age     time.Duration
	}{
		{"dead pid", formatLock(deadPID(t)), 0},
		{"our own pid from an earlier life", formatLock(os.Getpid()), 0},
		{"garbage, old", []byte("\x00\xffgarbage"), time.Minute},
		{"empty, old", nil, time.Minute},
		{"negative pid, old", []byte("-42\n"), time.Minute},
	} {
		if err := os.WriteFile(lf, tc.content, 0o644); err != nil {
			t.Fatal(err)
		}
		if tc.age > 0 {
			old := time.Now().Add(-tc.age)
			os.Chtimes(lf, old, old)
		}
		p, err := o.Open(pair.Path(), mode())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b, _ := os.ReadFile(lf); string(b) != string(formatLock(os.Getpid())) {
			t.Errorf("%s: lock now %q, want ours", tc.name, b)
		}
		p.Close()
	}
	if !strings.Contains(buf.String(), "taking it over") {
		t.Errorf("no warning about the takeover in the log:\n%s", buf)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the lock dir: %v", ents)
	}
}

// TestHostileLockFiles: a fresh unreadable lock, a huge one, a symlink to
// /dev/zero and a FIFO planted as the lock file end in a bounded answer.
func TestHostileLockFiles(t *testing.T) {
	pair := ptytest.New(t)
	dir := t.TempDir()
	lf := lockPath(t, dir, pair.Path())
	o := &Opener{LockDir: dir}
	type result struct {
		p   serial.Port
		err error
	}
	try := func(name string) error {
		t.Helper()
		done := make(chan result, 1)
		go func() {
			p, err := o.Open(pair.Path(), mode())
			done <- result{p, err}
		}()
		select {
		case r := <-done:
			if r.p != nil {
				r.p.Close()
			}
			return r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Open hangs", name)
			return nil
		}
	}

	os.WriteFile(lf, []byte("\x00\x01\x02"), 0o644) // fresh: maybe being written
	if err := try("fresh garbage"); !errors.Is(err, edge.ErrPortInUse) || !strings.Contains(err.Error(), "being written") {
		t.Errorf("fresh garbage: got %v, want in use (being written)", err)
	}
	os.WriteFile(lf, bytes.Repeat([]byte("7"), 10<<20), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lf, old, old)
	if err := try("10 MiB"); err != nil {
		t.Errorf("10 MiB stale lock: got %v, want it taken over", err)
	}

	os.Remove(lf)
	os.Symlink("/dev/zero", lf)
	if err := try("symlink"); !errors.Is(err, edge.ErrPortInUse) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlink: got %v, want in use (not a regular file)", err)
	}
	os.Remove(lf)
	if err := unix.Mkfifo(lf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := try("fifo"); !errors.Is(err, edge.ErrPortInUse) {
		t.Errorf("fifo: got %v, want in use", err)
	}
}

// TestNoLockDirDegrades: where no lock file can be made, the port opens
// with exclusive mode alone and a debug line says so.
func TestNoLockDirDegrades(t *testing.T) {
	pair := ptytest.New(t)
	log, buf := captureLog()
	o := &Opener{LockDir: filepath.Join(t.TempDir(), "missing"), Log: log}
	p, err := o.Open(pair.Path(), mode())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "lock file skipped") {
		t.Errorf("log: %s, want a debug line saying the lock file was skipped", buf)
	}
	// Exclusive mode is on.
	fd, err := unix.Open(devicePath(pair.Path()), unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err == nil {
		defer unix.Close(fd)
		if excl, err := getExclusive(fd); err == nil && !excl {
			t.Error("TIOCGEXCL: the port is not in exclusive mode")
		}
	} else if !errors.Is(err, unix.EBUSY) {
		t.Fatal(err)
	}
}

func TestEnvLockDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(LockDirEnv, dir)
	if got := (&Opener{}).lockDir(); got != dir {
		t.Errorf("got %q, want %q", got, dir)
	}
	pair := ptytest.New(t)
	p, err := Open(pair.Path(), mode())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := os.Stat(lockPath(t, dir, pair.Path())); err != nil {
		t.Errorf("no lock file in %s: %v", dir, err)
	}
}

// TestConcurrentOpens: many goroutines race for one port; exactly one
// wins at a time.
func TestConcurrentOpens(t *testing.T) {
	pair := ptytest.New(t)
	o := &Opener{LockDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20 && ctx.Err() == nil; i++ {
				p, err := o.Open(pair.Path(), mode())
				if err != nil {
					if !errors.Is(err, edge.ErrPortInUse) {
						t.Error(err)
						return
					}
					continue
				}
				mu.Lock()
				inside++
				most = max(most, inside)
				mu.Unlock()
				p.Write([]byte("x")) // hold it for a moment
				mu.Lock()
				inside--
				mu.Unlock()
				p.Close()
			}
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("up to %d opens at once, want 1", most)
	}
}

func TestOpenMissingPort(t *testing.T) {
	dir := t.TempDir()
	_, err := (&Opener{LockDir: dir}).Open(filepath.Join(dir, "ttyUSB9"), mode())
	if err == nil || errors.Is(err, edge.ErrPortInUse) {
		t.Fatalf("got %v, want a plain open error", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the lock dir: %v", ents)
	}
}
