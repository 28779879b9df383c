package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// The full-disk tests run the store in a child process on a small real
// filesystem (tmpfs, mounted by the test: root only) and fill that
// filesystem from the parent, a second process. SIGBUS, a panic or
// Badger's log.Fatal would show as the child dying.

const diskChildEnv = "EDGE_STORE_DISK_CHILD"

// diskChild appends incompressible readings as fast as it can until its
// stdin closes, printing "S appended evicted refused full readonly free"
// every 20 ms, then checks what it holds and prints "DONE".
func diskChild(dir string) int {
	s, err := Open(Options{Dir: dir, CapBytes: 1 << 30, CommitWait: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Println("E", err)
		return 3
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	var failed atomic.Int64
	report := func() {
		st := s.Stats()
		fmt.Printf("S %d %d %d %t %t %d %d\n", st.Appended, st.Evicted, st.Refused, st.DiskFull, st.ReadOnly, st.DiskFree, failed.Load())
	}
	report()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	text := make([]byte, 180)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			report()
			if err := s.Close(); err != nil {
				fmt.Println("E close:", err)
				return 4
			}
			fmt.Println("DONE")
			return 0
		case <-tick.C:
			report()
		default:
		}
		for j := range text {
			text[j] = 'a' + byte(rng.IntN(26))
		}
		ev := edge.Reading("d", "p", float64(i), string(text))
		if i%100 == 0 {
			ev = edge.Event{Kind: edge.KindAlert, Text: string(text), Alert: &edge.Alert{ID: strconv.Itoa(i)}}
		}
		if err := s.AppendAsync(ev, func(_ edge.Event, err error) {
			if err != nil {
				failed.Add(1)
			}
		}); err != nil && !errors.Is(err, edge.ErrDiskFull) {
			fmt.Println("E append:", err)
			return 5
		}
	}
}

// childStats is one "S" line of diskChild.
type childStats struct {
	appended, evicted, refused uint64
	full, readOnly             bool
	free                       int64
}

type diskChildProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	last  childStats
}

func startDiskChild(t *testing.T, dir string) *diskChildProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if w := os.Getenv("EDGE_STORE_TEST_EXEC_WRAPPER"); w != "" {
		cmd = exec.Command(w, os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), diskChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &diskChildProc{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	return c
}

// until reads the child's reports until cond holds for one, for at most
// 30 s; it fails the test if the child stops or reports an error.
func (c *diskChildProc) until(t *testing.T, what string, cond func(childStats) bool) childStats {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("waiting for %s: the child stopped: %v", what, c.wait())
			}
			f := strings.Fields(l)
			if len(f) == 0 || f[0] != "S" {
				if f[0] == "E" {
					t.Fatalf("child: %s", l)
				}
				continue
			}
			var st childStats
			fmt.Sscan(strings.Join(f[1:], " "), &st.appended, &st.evicted, &st.refused, &st.full, &st.readOnly, &st.free)
			c.last = st
			if cond(st) {
				return st
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; last report %+v", what, c.last)
		}
	}
}

// stop ends the child's appends and waits for it to exit cleanly.
func (c *diskChildProc) stop(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	done := false
	for l := range c.lines {
		if l == "DONE" {
			done = true
		}
		if strings.HasPrefix(l, "E") {
			t.Errorf("child: %s", l)
		}
	}
	if err := c.wait(); err != nil || !done {
		t.Fatalf("child did not end cleanly: %v (DONE printed: %v)", err, done)
	}
}

func (c *diskChildProc) wait() error {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("child killed by %v", ws.Signal())
		}
	}
	return err
}

// fill writes a file on dir's filesystem until at most leave bytes are
// free, and returns a function that removes it.
func fill(t *testing.T, dir string, leave int64) func() {
	t.Helper()
	f, err := os.CreateTemp(dir, "fill")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		free, _, err := diskSpace(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free <= leave {
			break
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), free-leave)]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(f.Name()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiskFull: a store writing at full speed on a 64 MiB filesystem with a
// cap larger than the disk keeps its reserve by evicting; when another
// process fills the disk it refuses appends and stays up; it restarts on
// the full disk and resumes once space returns; what it holds is whole
// and accounted for.
func TestDiskFull(t *testing.T) {
	mnt := smallFS(t, 64<<20)
	dir := filepath.Join(mnt, "log")
	// Other files leave the reserve (half of this filesystem) and 10 MiB:
	// the store reaches its reserve after 10 MiB.
	defer fill(t, mnt, defaultReserve(64<<20)+10<<20)()

	c := startDiskChild(t, dir)
	c.until(t, "evictions to keep the reserve", func(s childStats) bool { return s.evicted > 0 })
	unfill := fill(t, mnt, 0)
	c.until(t, "appends refused on the full disk", func(s childStats) bool { return s.full && s.refused > 0 })
	unfill()
	st := c.until(t, "appends resumed", func(s childStats) bool { return !s.full })
	c.until(t, "more appends", func(s childStats) bool { return s.appended > st.appended })
	c.stop(t)

	// A restart on a disk another process filled: the store releases its
	// ballast to open, says the disk is full once it used that room, and
	// resumes when the file goes.
	if _, err := os.Stat(filepath.Join(dir, ballastName)); err != nil {
		t.Fatalf("no ballast after the store ran with room: %v", err)
	}
	unfill = fill(t, mnt, 0)
	c = startDiskChild(t, dir)
	st = c.until(t, "the store open for writing on the full disk, then full", func(s childStats) bool { return s.full })
	if st.readOnly {
		t.Errorf("opened read-only with a ballast to release: %+v", st)
	}
	unfill()
	st = c.until(t, "appends after space returned", func(s childStats) bool { return !s.full && s.appended > 0 })
	c.stop(t)

	// Without a ballast (a store made by an older version, or one whose
	// ballast went and never came back), it opens read-only, then for
	// writing once there is room.
	if err := os.Remove(filepath.Join(dir, ballastName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	unfill = fill(t, mnt, 0)
	c = startDiskChild(t, dir)
	st = c.until(t, "the store open read-only", func(s childStats) bool { return s.full })
	if !st.readOnly || st.appended != 0 {
		t.Errorf("open on a full disk without a ballast: got %+v, want read-only", st)
	}
	unfill()
	c.until(t, "appends after the reopen", func(s childStats) bool { return !s.readOnly && !s.full && s.appended > 0 })
	c.stop(t)

	s := openT(t, Options{Dir: dir})
	checkHeld(t, s)
}

// checkHeld checks that a store's gap records account for every seq it no
// longer holds.
func checkHeld(t *testing.T, s *Store) {
	t.Helper()
	var held, gapCount uint64
	for next := uint64(1); ; {
		evs, err := s.Read(next, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			held++
			if ev.Kind == edge.KindGap {
				gapCount += ev.Gap.Count
			}
			next = ev.Seq + 1
		}
	}
	st := s.Stats()
	if missing := st.LastSeq - held; held != st.Events || missing != gapCount || gapCount != st.Evicted {
		t.Errorf("held %d events of %d, %d missing; gap records count %d; stats %+v", held, st.LastSeq, missing, gapCount, st)
	}
}

// RoomFor: a download beside the store may not cut into its reserve.
func TestRoomFor(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: filepath.Join(dir, "log")})
	defer s.Close()
	if err := s.RoomFor(dir, 1<<20); err != nil {
		t.Skipf("this filesystem has no room above the reserve: %v", err)
	}
	err := s.RoomFor(dir, 1<<60)
	if !errors.Is(err, edge.ErrDiskFull) || !strings.Contains(err.Error(), dir) {
		t.Errorf("RoomFor(1 EiB): %v, want ErrDiskFull naming %s", err, dir)
	}
	if err := s.RoomFor(filepath.Join(dir, "missing"), 1); err == nil {
		t.Error("RoomFor a folder that does not exist: no error")
	}
}
