package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// waitFor waits until cond holds, checking every millisecond, for at most
// 20 s of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// capMix is 400 readings, 50 status, 50 state changes and 100 alerts,
// interleaved.
func capMix() []edge.Event {
	var evs []edge.Event
	for i := 0; i < 600; i++ {
		txt := fmt.Sprintf("event %04d padding padding padding", i)
		switch {
		case i%6 == 1:
			evs = append(evs, edge.Event{Kind: edge.KindAlert, Text: txt, Alert: &edge.Alert{ID: fmt.Sprint(i), State: edge.AlertFiring}})
		case i%12 == 3:
			evs = append(evs, edge.StateChange("door", "c", txt, 1))
		case i%12 == 9:
			evs = append(evs, edge.DeviceStatus("door", true, txt))
		default:
			evs = append(evs, edge.Reading("t", "temp", float64(i), txt))
		}
	}
	return evs
}

// appendChunks appends evs n at a time, each chunk durable before the next,
// so every priority has several blocks; it returns them with their seqs.
func appendChunks(t *testing.T, s *Store, evs []edge.Event, n int) []edge.Event {
	t.Helper()
	var out []edge.Event
	for i := 0; i < len(evs); i += n {
		got, err := s.Append(context.Background(), evs[i:min(i+n, len(evs))]...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

// streamBytes is what the blocks of priority p count in Live.
func streamBytes(s *Store, p edge.Priority) int64 {
	s.buckets.mu.Lock()
	defer s.buckets.mu.Unlock()
	var n int64
	for _, bc := range s.buckets.m[p] {
		n += bc.bytes
	}
	return n
}

// checkEvictions checks a store after evictions: every missing seq is
// accounted for by gap records, no priority went while a lower one is
// held, within a priority the oldest went first, and what remains reads
// back from the streams, the cursor start and the backlog count.
//
// With strict, no event of a priority may be held when one of a higher
// priority was evicted; otherwise (events appended during the evictions)
// only none older than it.
func checkEvictions(t *testing.T, s *Store, in []edge.Event, strict bool) (maxEvicted edge.Priority) {
	t.Helper()
	st := s.Stats()
	all, err := s.Read(1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	present := map[uint64]bool{}
	var gaps, gapCount uint64
	for _, ev := range all {
		present[ev.Seq] = true
		if ev.Kind == edge.KindGap {
			gaps++
			gapCount += ev.Gap.Count
			if ev.Gap.Reason != GapReasonCap || ev.Gap.Epoch != s.Epoch() || ev.Gap.From > ev.Gap.To || ev.Priority != edge.PriorityAlert {
				t.Errorf("bad gap record %+v %+v", ev, ev.Gap)
			}
		}
	}
	var missing uint64
	for seq := uint64(1); seq <= s.LastSeq(); seq++ {
		if !present[seq] {
			missing++
		}
	}
	lowestKept := edge.PriorityAlert + 1
	for _, ev := range in {
		if present[ev.Seq] {
			lowestKept = min(lowestKept, ev.Priority)
		} else {
			maxEvicted = max(maxEvicted, ev.Priority)
		}
	}
	if missing == 0 {
		t.Fatalf("nothing evicted: %+v", st)
	}
	if gapCount != missing {
		t.Errorf("gap records count %d missing events, %d are missing", gapCount, missing)
	}
	if st.Evicted != missing || st.GapRecords < gaps || st.Events != uint64(len(all)) {
		t.Errorf("stats: evicted %d (want %d), gap records %d (at least %d), events %d (want %d)",
			st.Evicted, missing, st.GapRecords, gaps, st.Events, len(all))
	}
	if strict && lowestKept < maxEvicted {
		t.Errorf("evicted priority %d while priority %d events remain", maxEvicted, lowestKept)
	}
	// No event went while an older one of a lower priority stayed.
	var keptBelow [numPrio + 1]uint64 // oldest kept seq of a priority below p
	for p := range keptBelow {
		keptBelow[p] = ^uint64(0)
	}
	for _, ev := range in {
		if present[ev.Seq] {
			for p := int(ev.Priority) + 1; p <= numPrio; p++ {
				keptBelow[p] = min(keptBelow[p], ev.Seq)
			}
		}
	}
	for _, ev := range in {
		if !present[ev.Seq] && ev.Seq > keptBelow[ev.Priority] {
			t.Errorf("seq %d of priority %d evicted while older seq %d of a lower priority is held", ev.Seq, ev.Priority, keptBelow[ev.Priority])
			break
		}
	}
	var newestGone, oldestKept uint64 = 0, ^uint64(0)
	for _, ev := range in {
		if ev.Priority != maxEvicted {
			continue
		}
		if present[ev.Seq] {
			oldestKept = min(oldestKept, ev.Seq)
		} else {
			newestGone = max(newestGone, ev.Seq)
		}
	}
	if newestGone > oldestKept {
		t.Errorf("priority %d: seq %d evicted while older %d kept", maxEvicted, newestGone, oldestKept)
	}
	hi, _ := s.ReadPriority(1, edge.PriorityNormal, 1<<20)
	var wantHi int
	for _, ev := range all {
		if ev.Priority >= edge.PriorityNormal {
			wantHi++
		}
	}
	if len(hi) != wantHi {
		t.Errorf("ReadPriority(Normal): %d events, want %d", len(hi), wantHi)
	}
	if c, _ := s.Cursor("late"); c != all[0].Seq {
		t.Errorf("new cursor: got %d, want first held %d", c, all[0].Seq)
	}
	for _, from := range []uint64{1, all[len(all)/2].Seq, s.LastSeq()} {
		var want uint64
		for _, ev := range all {
			if ev.Seq >= from {
				want++
			}
		}
		if got := s.Held(from); got != want {
			t.Errorf("Held(%d) = %d, want %d", from, got, want)
		}
	}
	return maxEvicted
}

func TestEvictByPriority(t *testing.T) {
	for _, tc := range []struct {
		name string
		need func(s *Store) int64
		want edge.Priority
	}{
		{"readings only", func(s *Store) int64 { return streamBytes(s, edge.PriorityLow) / 2 }, edge.PriorityLow},
		{"down to alerts", func(s *Store) int64 { return s.live() - streamBytes(s, edge.PriorityAlert)/2 }, edge.PriorityAlert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, Options{CommitWait: -1})
			in := appendChunks(t, s, capMix(), 40)
			before := s.live()
			s.maintMu.Lock()
			freed := s.evict(tc.need(s), false)
			s.maintMu.Unlock()
			if freed <= 0 || s.live() >= before {
				t.Fatalf("freed %d bytes; live %d -> %d", freed, before, s.live())
			}
			if got := checkEvictions(t, s, in, true); got != tc.want {
				t.Errorf("evicted up to priority %d, want %d", got, tc.want)
			}
			// Evicted gap records fold into the next: evict everything that
			// is left and the gap records still account for every seq.
			if tc.want == edge.PriorityAlert {
				s.maintMu.Lock()
				s.evict(s.live()-streamBytes(s, edge.PriorityAlert)/10, false)
				s.maintMu.Unlock()
				checkEvictions(t, s, in, true)
			}
		})
	}
}

// The cap counts bytes on disk: a store past it evicts down to 90% of it on
// its own, and reopens with the same figures.
func TestCapEnforced(t *testing.T) {
	dir := t.TempDir()
	capb := int64(fixedBytes + 96<<10)
	s := openT(t, Options{Dir: dir, CapBytes: capb, CommitWait: -1})
	rng := rand.New(rand.NewPCG(3, 4))
	var in []edge.Event
	for i := 0; i < 3000; i++ {
		b := make([]byte, 150)
		for j := range b {
			b[j] = 'a' + byte(rng.IntN(26))
		}
		ev := edge.Reading("t", "temp", float64(i), string(b))
		if i%50 == 7 {
			ev = edge.Event{Kind: edge.KindAlert, Text: string(b), Alert: &edge.Alert{ID: fmt.Sprint(i)}}
		}
		in = append(in, ev)
	}
	in = appendChunks(t, s, in, 100)
	waitFor(t, "the store back under its cap", func() bool { return s.live()+fixedBytes <= capb })
	s.maintMu.Lock() // a pass in flight ends
	s.maintMu.Unlock()
	checkEvictions(t, s, in, false)
	st := s.Stats()
	if st.Evicted == 0 || st.CapBytes != capb || st.DiskEvicted != 0 {
		t.Errorf("stats after the cap: %+v", st)
	}
	s.Close()
	s = openT(t, Options{Dir: dir, CapBytes: capb})
	if st2 := s.Stats(); st2.LiveBytes != st.LiveBytes || st2.Events != st.Events || st2.Evicted != st.Evicted {
		t.Errorf("after reopen: live %d events %d evicted %d, want %d %d %d",
			st2.LiveBytes, st2.Events, st2.Evicted, st.LiveBytes, st.Events, st.Evicted)
	}
}

// A crash after the drop but before its outcome is committed is finished at
// the next open: the gap record and the counters are there.
func TestDropResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir, CommitWait: -1})
	in := appendChunks(t, s, capMix(), 40)
	d := &dropPlan{evicted: true}
	if err := s.enter(); err != nil {
		t.Fatal(err)
	}
	err := s.doDrop(d, func(txn *badger.Txn, last uint64) error {
		return s.planStream(txn, d, edge.PriorityLow, last, streamBytes(s, edge.PriorityLow)/2, func(uint64, blockHead) bool { return true })
	})
	s.leave()
	if err != nil || d.empty() {
		t.Fatalf("drop: %v, %+v", err, d)
	}
	s.Close() // the outcome was never committed: a crash
	s = openT(t, Options{Dir: dir})
	checkEvictions(t, s, in, true)
	if st := s.Stats(); st.Evicted != d.events {
		t.Errorf("evicted %d, want %d", st.Evicted, d.events)
	}
	s.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(keyDrop); err == nil {
			t.Error("the drop record is still there")
		}
		return nil
	})
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := fakeclock.New(t0)
	s := openT(t, Options{Dir: dir, History: time.Hour, GCInterval: time.Hour, Clock: clk, CommitWait: -1})
	var in []edge.Event
	for i := 0; i < 1000; i++ {
		ev := edge.Reading("t", "temp", float64(i), "")
		if i%10 == 0 {
			ev = edge.StateChange("d", "c", "open", 1)
		}
		in = append(in, ev)
	}
	appendChunks(t, s, in, 100)
	// No cursor: nothing is consumed, nothing goes.
	if err := s.retain(t0.Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FirstSeq != 1 || st.Events != 1000 {
		t.Fatalf("retention without cursors deleted events: %+v", st)
	}
	s.SetCursor(edge.CursorRules, 800)
	s.SetCursor(edge.CursorUplink, 600)
	// Passed by every cursor but younger than History: kept.
	if err := s.retain(t0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FirstSeq != 1 {
		t.Fatalf("retention deleted events younger than history: %+v", st)
	}
	// Two hours later: blocks wholly before the slowest cursor go, in whole
	// drop units (256 seqs).
	if err := s.retain(t0.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Each priority's stream goes as far as its own blocks allow. Where a
	// group commit splits an Append (a slow machine), a block may start at
	// 256 exactly and stay: the low stream's next block starts in
	// [501, 600], so it drops below 256 or 512.
	st := s.Stats()
	all, _ := s.Read(1, 2000)
	if st.FirstSeq < 256 || st.FirstSeq > 600 || st.Events != uint64(len(all)) || st.Evicted != 0 || st.GapRecords != 0 {
		t.Fatalf("after retention: got %+v for %d events read, want first in [256, 600], nothing evicted", st, len(all))
	}
	first := st.FirstSeq
	if all[0].Seq != first {
		t.Fatalf("read from 1 after retention: got seq %d first, want %d", all[0].Seq, first)
	}
	for seq, i := uint64(600), len(all)-401; seq <= 1000; seq, i = seq+1, i+1 {
		if all[i].Seq != seq {
			t.Fatalf("seq %d is missing after retention (cursors at 600)", seq)
		}
	}
	hi, _ := s.ReadPriority(1, edge.PriorityHigh, 1000)
	if len(hi) == 0 || hi[0].Seq < first {
		t.Fatalf("state changes after retention start at %v, want >= %d", hi, first)
	}
	if c, _ := s.Cursor("new"); c != first {
		t.Errorf("new cursor after retention: got %d, want %d", c, first)
	}
	if got := s.Held(600); got != 401 {
		t.Errorf("Held(600) = %d, want 401", got)
	}
	s.Close()
	s = openT(t, Options{Dir: dir, Clock: clk, CommitWait: -1})
	if st := s.Stats(); st.FirstSeq != first || st.LastSeq != 1000 || st.Events != uint64(len(all)) {
		t.Fatalf("after reopen: %+v", st)
	}
	if out, err := s.Append(context.Background(), edge.Reading("a", "b", 1, "")); err != nil || out[0].Seq != 1001 {
		t.Fatalf("append after retention: %v %v", out, err)
	}
}

// The maintenance goroutine applies retention on its own, on its clock.
func TestRetentionRunsInBackground(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := openT(t, Options{History: -1, GCInterval: time.Minute, Clock: clk, CommitWait: -1})
	var in []edge.Event
	for i := 0; i < 600; i++ {
		in = append(in, edge.Reading("t", "temp", float64(i), ""))
	}
	appendChunks(t, s, in, 50)
	s.SetCursor(edge.CursorUplink, 550)
	if !clk.BlockUntil(1, 10*time.Second) {
		t.Fatal("maintenance is not waiting on the clock")
	}
	clk.Advance(time.Minute)
	waitFor(t, "background retention", func() bool { return s.Stats().FirstSeq >= 256 })
}
