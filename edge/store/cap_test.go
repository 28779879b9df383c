package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// capMix is 400 readings, 50 status, 50 state changes and 100 alerts,
// interleaved.
func capMix() []edge.Event {
	var evs []edge.Event
	for i := 0; i < 600; i++ {
		txt := fmt.Sprintf("event %04d padding padding padding", i)
		switch {
		case i%6 == 1 && i < 600:
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

// waitCap waits until the store is back under its cap.
func waitCap(t *testing.T, s *Store) edge.StoreStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.Stats()
		if st.LiveBytes <= st.CapBytes {
			s.enforceCap() // waits for a pass in flight
			return s.Stats()
		}
		if time.Now().After(deadline) {
			t.Fatalf("store stayed over its cap: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCapEvictsByPriority(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capBytes int64
	}{
		{"readings only", 40 << 10},
		{"down to alerts", 9 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, Options{CapBytes: tc.capBytes, GCInterval: time.Hour})
			in, err := s.Append(context.Background(), capMix()...)
			if err != nil {
				t.Fatal(err)
			}
			st := waitCap(t, s)
			all, err := s.Read(1, 100000)
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
			maxEvicted := edge.Priority(0)
			lowestKept := edge.PriorityAlert + 1
			for seq := uint64(1); seq <= s.LastSeq(); seq++ {
				if !present[seq] {
					missing++
				}
			}
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
			if st.Evicted != missing || st.GapRecords < gaps {
				t.Errorf("stats: evicted %d (want %d), gap records %d (at least %d)", st.Evicted, missing, st.GapRecords, gaps)
			}
			if lowestKept < maxEvicted {
				t.Errorf("evicted priority %d while priority %d events remain", maxEvicted, lowestKept)
			}
			// Within the priority being evicted, the oldest went first.
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
			switch tc.name {
			case "readings only":
				if maxEvicted != edge.PriorityLow {
					t.Errorf("evicted priority %d, only readings needed to go", maxEvicted)
				}
			case "down to alerts":
				if maxEvicted != edge.PriorityAlert {
					t.Errorf("evicted up to priority %d, want alerts", maxEvicted)
				}
			}
			for _, ev := range in {
				if ev.Kind == edge.KindAlert && !present[ev.Seq] {
					for _, r := range all {
						if r.Kind == edge.KindReading {
							t.Fatalf("alert %d evicted while reading %d remains", ev.Seq, r.Seq)
						}
					}
				}
			}
			// The priority index has no entries left for evicted events.
			hi, _ := s.ReadPriority(1, edge.PriorityNormal, 100000)
			for _, ev := range hi {
				if !present[ev.Seq] {
					t.Errorf("ReadPriority returned evicted seq %d", ev.Seq)
				}
			}
			// A new cursor starts at the first event still held.
			if c, _ := s.Cursor("late"); c != all[0].Seq {
				t.Errorf("new cursor: got %d, want first held %d", c, all[0].Seq)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir, History: time.Hour, GCInterval: time.Hour})
	var in []edge.Event
	for i := 0; i < 100; i++ {
		ev := edge.Reading("t", "temp", float64(i), "")
		if i%10 == 0 {
			ev = edge.StateChange("d", "c", "open", 1)
		}
		in = append(in, ev)
	}
	if _, err := s.Append(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	// No cursor: nothing is consumed, nothing goes.
	if err := s.retain(time.Now().Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FirstSeq != 1 || st.Events != 100 {
		t.Fatalf("retention without cursors deleted events: %+v", st)
	}
	s.SetCursor(edge.CursorRules, 80)
	s.SetCursor(edge.CursorUplink, 50)
	// Passed by every cursor but younger than History: kept.
	if err := s.retain(time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FirstSeq != 1 {
		t.Fatalf("retention deleted events younger than history: %+v", st)
	}
	// Two hours later: everything before the slowest cursor goes.
	if err := s.retain(time.Now().Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.FirstSeq != 50 || st.Events != 51 || st.Evicted != 0 || st.GapRecords != 0 {
		t.Fatalf("after retention: got %+v, want first 50, 51 events, nothing evicted", st)
	}
	evs, _ := s.Read(1, 10)
	if len(evs) == 0 || evs[0].Seq != 50 {
		t.Fatalf("read from 1 after retention: got %v", evs)
	}
	hi, _ := s.ReadPriority(1, edge.PriorityHigh, 100)
	if len(hi) != 5 || hi[0].Seq != 51 {
		t.Fatalf("state changes after retention: got %d from %v", len(hi), hi)
	}
	if c, _ := s.Cursor("new"); c != 50 {
		t.Errorf("new cursor after retention: got %d, want 50", c)
	}
	s.Close()
	s = openT(t, Options{Dir: dir})
	if st := s.Stats(); st.FirstSeq != 50 || st.LastSeq != 100 || st.Events != 51 {
		t.Fatalf("after reopen: %+v", st)
	}
	if out, err := s.Append(context.Background(), edge.Reading("a", "b", 1, "")); err != nil || out[0].Seq != 101 {
		t.Fatalf("append after retention: %v %v", out, err)
	}
}

// The maintenance goroutine applies retention on its own.
func TestRetentionRunsInBackground(t *testing.T) {
	s := openT(t, Options{History: -1, GCInterval: 20 * time.Millisecond})
	for i := 0; i < 20; i++ {
		s.Append(context.Background(), edge.Reading("t", "temp", float64(i), ""))
	}
	s.SetCursor(edge.CursorUplink, 15)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().FirstSeq != 15 {
		if time.Now().After(deadline) {
			t.Fatalf("background retention did not run: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
