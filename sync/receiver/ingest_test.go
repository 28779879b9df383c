package receiver

import (
	"encoding/json"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// TestGroupCommit queues overlapping batches of two gateways while the
// ingest lock is held, so one leader stores them all in one group, and
// checks every event is stored exactly once with gap-free cursors, the
// per-batch counts add up, and the dedupe index survives a reopen.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const callers = 8
	type result struct{ stored, dups int }
	results := make([]result, callers)
	allQueued := make(chan struct{})
	store.queued = func(n int) {
		if n == callers {
			close(allQueued)
		}
	}
	store.ingest.Lock()
	var wg gosync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := []string{"gw-a", "gw-b"}[i%2]
			// Per gateway: seqs 1..250, 101..350, 201..450, 301..550.
			s, d, err := store.StoreBatch(gw, readings(7, uint64(i/2*100+1), 250), time.Now())
			if err != nil {
				t.Error(err)
			}
			results[i] = result{s, d}
		}()
	}
	<-allQueued // every caller is queued behind the lock
	store.ingest.Unlock()
	wg.Wait()
	var stored, dups int
	for _, r := range results {
		stored += r.stored
		dups += r.dups
	}
	if stored != 2*550 || dups != callers*250-2*550 {
		t.Fatalf("stored %d duplicates %d, want %d and %d (%+v)", stored, dups, 2*550, callers*250-2*550, results)
	}
	if c := store.LastCursor(); c != 1100 {
		t.Fatalf("last cursor %d, want 1100", c)
	}
	check := func() {
		t.Helper()
		page, _, err := store.Events("", 0, 5000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, e := range page {
			if e.Cursor != uint64(i+1) {
				t.Fatalf("event %d has cursor %d", i, e.Cursor)
			}
			var w wire.Event
			if err := json.Unmarshal(e.Event, &w); err != nil {
				t.Fatal(err)
			}
			k := e.Gateway + "/" + jsonNum(w.Seq)
			if seen[k] || w.Seq < 1 || w.Seq > 550 {
				t.Fatalf("event %s stored twice or out of range", k)
			}
			seen[k] = true
		}
		if len(seen) != 1100 {
			t.Fatalf("%d events stored, want 1100", len(seen))
		}
	}
	check()
	store.Close()
	if store, err = OpenBadger(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if s, d, err := store.StoreBatch("gw-b", readings(7, 500, 100), time.Now()); err != nil || s != 49 || d != 51 {
		t.Fatalf("after reopen: stored %d duplicates %d (%v), want 49 and 51", s, d, err)
	}
	if c := store.LastCursor(); c != 1149 {
		t.Fatalf("last cursor after reopen %d, want 1149", c)
	}
}
