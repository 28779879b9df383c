package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

func openT(t *testing.T, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := Open(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	ctx := context.Background()
	if s.LastSeq() != 0 {
		t.Fatalf("last seq of a new store: got %d, want 0", s.LastSeq())
	}
	epoch := s.Epoch()
	if epoch == 0 {
		t.Fatal("epoch is 0")
	}
	on := true
	in := []edge.Event{
		edge.Reading("t1", "temp", 21.5, "C"),
		edge.StateChange("door-3", "contact", "open", 1),
		edge.DeviceStatus("t1", on, "connected"),
		{Kind: edge.KindAlert, Alert: &edge.Alert{ID: "a1", Rule: "door", State: edge.AlertFiring, Severity: "high", Message: "door open", Cause: 2}},
	}
	out, err := s.Append(ctx, in...)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range out {
		if ev.Seq != uint64(i+1) || ev.Epoch != epoch {
			t.Errorf("event %d: got (epoch %x, seq %d), want (%x, %d)", i, ev.Epoch, ev.Seq, epoch, i+1)
		}
		if ev.Priority != edge.DefaultPriority(ev.Kind) {
			t.Errorf("event %d: got priority %d, want %d", i, ev.Priority, edge.DefaultPriority(ev.Kind))
		}
		if ev.Time.IsZero() || !ev.ClockTrusted {
			t.Errorf("event %d: not stamped: %v %v", i, ev.Time, ev.ClockTrusted)
		}
	}
	if s.LastSeq() != 4 {
		t.Fatalf("last seq: got %d, want 4", s.LastSeq())
	}
	got, err := s.Read(2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != 2 || got[2].Alert == nil || got[2].Alert.Message != "door open" {
		t.Fatalf("read from 2: got %+v", got)
	}
	if !got[1].IsOnline() || got[1].Text != "connected" {
		t.Errorf("status event: got %+v", got[1])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(1, 1); !errors.Is(err, edge.ErrClosed) {
		t.Errorf("read after close: got %v, want ErrClosed", err)
	}
	if err := s.AppendAsync(edge.Reading("a", "b", 1, ""), nil); !errors.Is(err, edge.ErrClosed) {
		t.Errorf("append after close: got %v, want ErrClosed", err)
	}

	s2 := openT(t, Options{Dir: dir})
	if s2.Epoch() != epoch {
		t.Errorf("epoch after reopen: got %x, want %x", s2.Epoch(), epoch)
	}
	if s2.LastSeq() != 4 {
		t.Errorf("last seq after reopen: got %d, want 4", s2.LastSeq())
	}
	out, err = s2.Append(ctx, edge.Reading("t1", "temp", 22, "C"))
	if err != nil || out[0].Seq != 5 {
		t.Fatalf("append after reopen: got %v %v, want seq 5", out, err)
	}
	all, _ := s2.Read(0, 100)
	if len(all) != 5 || all[0].Value != 21.5 || all[0].Unit != "C" {
		t.Errorf("read all after reopen: got %+v", all)
	}
	st := s2.Stats()
	if st.Events != 5 || st.FirstSeq != 1 || st.LastSeq != 5 || st.Epoch != epoch || st.LiveBytes <= 0 || st.Bytes <= 0 {
		t.Errorf("stats: got %+v", st)
	}

	other := openT(t, Options{})
	if other.Epoch() == epoch {
		t.Errorf("two stores share epoch %x", epoch)
	}
}

func TestAppendAsyncConcurrentContiguous(t *testing.T) {
	s := openT(t, Options{CommitWait: 2 * time.Millisecond})
	const producers, each = 4, 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]string{}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			for i := 0; i < each; i++ {
				inner.Add(1)
				pt := fmt.Sprintf("p%d-%d", p, i)
				err := s.AppendAsync(edge.Reading("dev", pt, float64(i), ""), func(ev edge.Event, err error) {
					defer inner.Done()
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					// Durable before visible: the seq we learn is readable now.
					if s.LastSeq() < ev.Seq {
						t.Errorf("told seq %d before LastSeq %d reached it", ev.Seq, s.LastSeq())
					}
					mu.Lock()
					seen[ev.Seq] = pt
					mu.Unlock()
				})
				if err != nil {
					t.Error(err)
					inner.Done()
				}
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	if len(seen) != producers*each {
		t.Fatalf("distinct seqs: got %d, want %d", len(seen), producers*each)
	}
	evs, err := s.Read(1, producers*each+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != producers*each {
		t.Fatalf("read: got %d events, want %d", len(evs), producers*each)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if seen[ev.Seq] != ev.Point {
			t.Fatalf("seq %d: got point %q, want %q", ev.Seq, ev.Point, seen[ev.Seq])
		}
	}
	if st := s.Stats(); st.Commits >= st.Appended {
		t.Errorf("no group commit: %d commits for %d events", st.Commits, st.Appended)
	}
}

func TestWait(t *testing.T) {
	s := openT(t, Options{})
	ch := s.Wait(0)
	select {
	case <-ch:
		t.Fatal("wait(0) fired on an empty store")
	default:
	}
	go s.Append(context.Background(), edge.Reading("a", "b", 1, ""))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("wait(0) did not fire after an append")
	}
	if s.LastSeq() < 1 {
		t.Fatal("wait fired before the event was durable")
	}
	select {
	case <-s.Wait(0):
	default:
		t.Error("wait(0) with seq 1 durable is not closed")
	}
	pending := s.Wait(1)
	s.Close()
	for i, ch := range []<-chan struct{}{pending, s.Wait(1)} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Errorf("wait %d not released by Close", i)
		}
	}
}

func TestCursors(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	c, err := s.Cursor(edge.CursorRules)
	if err != nil || c != 1 {
		t.Fatalf("new cursor on empty store: got %d %v, want 1", c, err)
	}
	for i := 0; i < 10; i++ {
		s.Append(context.Background(), edge.Reading("a", "b", float64(i), ""))
	}
	if err := s.SetCursor(edge.CursorRules, 12); !errors.Is(err, ErrCursorAhead) {
		t.Errorf("set cursor past last+1: got %v, want ErrCursorAhead", err)
	}
	if err := s.SetCursor(edge.CursorRules, 11); err != nil {
		t.Errorf("set cursor to last+1: %v", err)
	}
	if err := s.SetCursor(edge.CursorUplink, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("export", 7); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, Options{Dir: dir})
	for name, want := range map[string]uint64{edge.CursorRules: 11, edge.CursorUplink: 4, "export": 7, "new": 1} {
		if got, err := s.Cursor(name); err != nil || got != want {
			t.Errorf("cursor %q after reopen: got %d %v, want %d", name, got, err, want)
		}
	}
}

func TestReadPriority(t *testing.T) {
	s := openT(t, Options{})
	var in []edge.Event
	for i := 0; i < 300; i++ {
		switch {
		case i%100 == 50:
			in = append(in, edge.Event{Kind: edge.KindAlert, Text: fmt.Sprint(i), Alert: &edge.Alert{ID: fmt.Sprint(i)}})
		case i%10 == 3:
			in = append(in, edge.StateChange("d", "c", fmt.Sprint(i), 1))
		case i%10 == 7:
			in = append(in, edge.DeviceStatus("d", true, fmt.Sprint(i)))
		default:
			in = append(in, edge.Reading("d", "p", float64(i), ""))
		}
	}
	in[5].Priority = edge.PriorityAlert // an explicit priority wins over the default
	if _, err := s.Append(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from uint64
		min  edge.Priority
		max  int
	}{{1, edge.PriorityAlert, 100}, {1, edge.PriorityHigh, 1000}, {40, edge.PriorityNormal, 20}, {0, edge.PriorityLow, 50}, {299, edge.PriorityHigh, 10}} {
		got, err := s.ReadPriority(tc.from, tc.min, tc.max)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i, ev := range in {
			p := ev.Priority
			if p == 0 {
				p = edge.DefaultPriority(ev.Kind)
			}
			if seq := uint64(i + 1); seq >= tc.from && p >= tc.min && len(want) < tc.max {
				want = append(want, seq)
			}
		}
		var seqs []uint64
		for _, ev := range got {
			seqs = append(seqs, ev.Seq)
			if ev.Priority < tc.min {
				t.Errorf("priority %d < min %d", ev.Priority, tc.min)
			}
		}
		if fmt.Sprint(seqs) != fmt.Sprint(want) {
			t.Errorf("ReadPriority(%d, %d, %d): got %v, want %v", tc.from, tc.min, tc.max, seqs, want)
		}
	}
}

func TestState(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	if v, err := s.GetState("rules/x"); v != nil || err != nil {
		t.Fatalf("absent: got %q %v", v, err)
	}
	if err := s.PutState("rules/x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState("empty", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, Options{Dir: dir})
	if v, _ := s.GetState("rules/x"); string(v) != "hello" {
		t.Errorf("got %q, want hello", v)
	}
	if v, _ := s.GetState("empty"); v == nil || len(v) != 0 {
		t.Errorf("empty value: got %#v, want non-nil empty", v)
	}
	if err := s.DeleteState("rules/x"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.GetState("rules/x"); v != nil {
		t.Errorf("after delete: got %q", v)
	}
}

// syncFlag is a TrustSource the test flips.
type syncFlag struct{ synced atomic.Bool }

func (f *syncFlag) ClockSynced() (bool, bool) { return f.synced.Load(), true }

func TestClockStamping(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := fakeclock.New(base)
	src := &syncFlag{}
	src.synced.Store(true)
	s := openT(t, Options{Judge: &edge.ClockJudge{Clock: clk, Source: src}})
	ctx := context.Background()
	a, _ := s.Append(ctx, edge.Reading("d", "p", 1, ""))
	// The wall clock is set an hour back and the OS says it is not synced.
	clk.Set(base.Add(-time.Hour))
	src.synced.Store(false)
	b, _ := s.Append(ctx, edge.Reading("d", "p", 2, ""))
	fixed := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.Append(ctx, edge.Event{Kind: edge.KindReading, Time: fixed, ClockTrusted: true}); err != nil {
		t.Fatal(err)
	}
	if !a[0].ClockTrusted || b[0].ClockTrusted {
		t.Errorf("trusted flags: got %v %v, want true false", a[0].ClockTrusted, b[0].ClockTrusted)
	}
	if !b[0].Time.Before(a[0].Time) || b[0].Seq <= a[0].Seq {
		t.Errorf("jump back: seq must still grow: a=%d %v b=%d %v", a[0].Seq, a[0].Time, b[0].Seq, b[0].Time)
	}
	evs, _ := s.Read(1, 10)
	if len(evs) != 3 || evs[1].ClockTrusted || !evs[1].Time.Equal(b[0].Time) || !evs[2].Time.Equal(fixed) || !evs[2].ClockTrusted {
		t.Errorf("stored stamps: got %+v", evs)
	}
}

// TestCompaction pushes several memtables through flush and a full
// compaction: on 32-bit (scripts/test-store-armv7.sh) this is where Badger
// panics without compression and a block cache.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	// Random text, so the S2-compressed blocks still fill several
	// memtables and tables.
	text := func(seq uint64) string {
		b := make([]byte, 150)
		r := rand.New(rand.NewPCG(seq, 9))
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		return string(b)
	}
	batch := make([]edge.Event, 2000)
	const rounds, per = 3, 6000
	// Each close flushes the memtable into a level-0 table.
	for r := 0; r < rounds; r++ {
		s := openT(t, Options{Dir: dir})
		for i := 0; i < per; i += len(batch) {
			for j := range batch {
				batch[j] = edge.Reading("sim-temp-001", "temperature", 21.5, "C")
				batch[j].Text = text(uint64(r*per + i + j + 1))
			}
			if _, err := s.Append(context.Background(), batch...); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	s := openT(t, Options{Dir: dir})
	if err := s.db.Flatten(2); err != nil {
		t.Fatalf("flatten: %v", err)
	}
	s.Close()
	s = openT(t, Options{Dir: dir})
	got := 0
	for next := uint64(1); ; {
		evs, err := s.Read(next, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq != next || e.Text != text(next) {
				t.Fatalf("seq %d: got %+v", next, e)
			}
			next++
		}
		got += len(evs)
	}
	if got != rounds*per {
		t.Fatalf("read back %d events, want %d", got, rounds*per)
	}
}

// A negative CommitWait (the config's commit_wait: 0s) commits what is
// queued at once; everything still becomes durable in order.
func TestCommitWithoutWait(t *testing.T) {
	s := openT(t, Options{CommitWait: -1})
	if s.opts.CommitWait != 0 {
		t.Fatalf("CommitWait -1 became %v, want 0", s.opts.CommitWait)
	}
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := s.Append(context.Background(), edge.Reading("d", "p", float64(i), "")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs, err := s.Read(1, 1000)
	if err != nil || len(evs) != 200 {
		t.Fatalf("read back %d events, err %v", len(evs), err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}
