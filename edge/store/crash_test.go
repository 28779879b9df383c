package store

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

type crashRep struct{ run, i int }

const crashChildEnv = "EDGE_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	if dir := os.Getenv(diskChildEnv); dir != "" {
		os.Exit(diskChild(dir))
	}
	os.Exit(m.Run())
}

// crashPayload is the content of event i of run r; the parent checks it.
func crashPayload(run, i int) edge.Event {
	ev := edge.Reading(fmt.Sprintf("dev-%d", i%7), fmt.Sprintf("r%d-i%d", run, i), float64(run*1_000_000+i), "C")
	if i%50 == 0 {
		ev = edge.StateChange(ev.Device, ev.Point, "open", ev.Value)
	}
	ev.Text += strings.Repeat("z", i%40)
	return ev
}

// crashChild appends at full speed until killed. It prints "D seq run i"
// for every event it was told is durable, and "C next" for every cursor
// position it durably set.
func crashChild(dir string) {
	run, _ := strconv.Atoi(os.Getenv(crashChildEnv + "_RUN"))
	s, err := Open(Options{Dir: dir, CapBytes: fixedBytes + 256<<10, CommitWait: 2 * time.Millisecond, GCInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		fmt.Println("E", err)
		os.Exit(1)
	}
	lines := make(chan string, 1<<16)
	go func() {
		w := bufio.NewWriter(os.Stdout)
		n := 0
		for l := range lines {
			w.WriteString(l)
			if n++; len(lines) == 0 || n%64 == 0 {
				w.Flush()
			}
		}
	}()
	lines <- "READY\n"
	var mu sync.Mutex
	durable := s.LastSeq()
	go func() {
		tick := time.NewTicker(3 * time.Millisecond)
		for range tick.C {
			mu.Lock()
			next := durable + 1
			mu.Unlock()
			if err := s.SetCursor("crash", next); err == nil {
				lines <- fmt.Sprintf("C %d\n", next)
			}
		}
	}()
	for p := 0; p < 2; p++ {
		go func() {
			for i := p; ; i += 2 {
				err := s.AppendAsync(crashPayload(run, i), func(ev edge.Event, err error) {
					if err != nil {
						return
					}
					mu.Lock()
					durable = max(durable, ev.Seq)
					mu.Unlock()
					lines <- fmt.Sprintf("D %d %d\n", ev.Seq, i)
				})
				if err != nil {
					return
				}
			}
		}()
	}
	select {}
}

func TestCrashSIGKILL(t *testing.T) {
	runs := 20
	if testing.Short() {
		runs = 5
	}
	dir := t.TempDir()
	reported := map[uint64]crashRep{}
	var cursorReported uint64
	var epoch uint64
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for run := 0; run < runs; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		if w := os.Getenv("EDGE_STORE_TEST_EXEC_WRAPPER"); w != "" {
			cmd = exec.Command(w, os.Args[0], "-test.run=^$") // qemu-arm-static, see scripts/test-store-armv7.sh
		}
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s_RUN=%d", crashChildEnv, run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "READY" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child did not get ready: %q", run, sc.Text())
		}
		killed := make(chan struct{})
		d := time.Duration(100+rng.IntN(700)) * time.Millisecond
		if run%5 == 4 {
			d += 1500 * time.Millisecond // long enough for cap eviction to commit mid-ingest
		}
		time.AfterFunc(d, func() {
			cmd.Process.Signal(syscall.SIGKILL)
			close(killed)
		})
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "D":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				i, _ := strconv.Atoi(f[2])
				if _, dup := reported[seq]; dup {
					t.Fatalf("run %d: seq %d reported durable twice", run, seq)
				}
				reported[seq] = crashRep{run, i}
				n++
			case len(f) == 2 && f[0] == "C":
				c, _ := strconv.ParseUint(f[1], 10, 64)
				cursorReported = max(cursorReported, c)
			}
		}
		<-killed
		cmd.Wait()

		s, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatalf("run %d: reopen after SIGKILL: %v", run, err)
		}
		if run == 0 {
			epoch = s.Epoch()
		} else if s.Epoch() != epoch {
			t.Fatalf("run %d: epoch changed from %x to %x", run, epoch, s.Epoch())
		}
		checkCrashStore(t, s, run, reported, cursorReported, func(seq uint64) (int, int, bool) {
			r, ok := reported[seq]
			return r.run, r.i, ok
		})
		st := s.Stats()
		s.Close()
		t.Logf("run %d: %d events reported durable this run; last seq %d, %d held, %d evicted, %d gap records",
			run, n, st.LastSeq, st.Events, st.Evicted, st.GapRecords)
	}
	if len(reported) == 0 {
		t.Fatal("no event was ever reported durable")
	}
}

func lastSeqOf(m map[uint64]crashRep) uint64 {
	var l uint64
	for s := range m {
		l = max(l, s)
	}
	return l
}

// checkCrashStore checks a reopened store: everything reported durable is
// there and intact or accounted for by a gap record, seqs are contiguous
// apart from gap records' counts, and the cursor is neither ahead of the
// data nor behind what was reported.
func checkCrashStore(t *testing.T, s *Store, run int, reported map[uint64]crashRep, cursorReported uint64, lookup func(uint64) (int, int, bool)) {
	t.Helper()
	last := s.LastSeq()
	if l := lastSeqOf(reported); last < l {
		t.Fatalf("run %d: last seq %d, but %d was reported durable", run, last, l)
	}
	present := map[uint64]bool{}
	var gapCount uint64
	var gapRanges [][2]uint64
	for next := uint64(1); ; {
		evs, err := s.Read(next, 5000)
		if err != nil {
			t.Fatalf("run %d: read: %v", run, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			present[ev.Seq] = true
			next = ev.Seq + 1
			if ev.Epoch != s.Epoch() {
				t.Fatalf("run %d: seq %d has epoch %x, want %x", run, ev.Seq, ev.Epoch, s.Epoch())
			}
			if ev.Kind == edge.KindGap {
				if ev.Gap == nil || ev.Gap.Reason != GapReasonCap || ev.Gap.Epoch != s.Epoch() {
					t.Fatalf("run %d: bad gap record %+v", run, ev)
				}
				gapCount += ev.Gap.Count
				gapRanges = append(gapRanges, [2]uint64{ev.Gap.From, ev.Gap.To})
				continue
			}
			if r, i, ok := lookup(ev.Seq); ok {
				want := crashPayload(r, i)
				if ev.Point != want.Point || ev.Value != want.Value || ev.Text != want.Text || ev.Device != want.Device || ev.Kind != want.Kind {
					t.Fatalf("run %d: seq %d: got %+v, want %+v", run, ev.Seq, ev, want)
				}
			}
		}
	}
	var missing uint64
	for seq := uint64(1); seq <= last; seq++ {
		if present[seq] {
			continue
		}
		missing++
		if _, _, ok := lookup(seq); ok {
			covered := false
			for _, g := range gapRanges {
				covered = covered || (seq >= g[0] && seq <= g[1])
			}
			if !covered {
				t.Fatalf("run %d: seq %d was reported durable, is missing, and no gap record covers it", run, seq)
			}
		}
	}
	if missing != gapCount {
		t.Fatalf("run %d: %d seqs missing in 1..%d, gap records account for %d", run, missing, last, gapCount)
	}
	c, err := s.Cursor("crash")
	if err != nil {
		t.Fatal(err)
	}
	if c > last+1 {
		t.Fatalf("run %d: cursor %d ahead of durable data (last seq %d)", run, c, last)
	}
	if cursorReported > 0 && c < cursorReported {
		t.Fatalf("run %d: cursor %d behind the %d reported set", run, c, cursorReported)
	}
}
