package store

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/edgegw/edgegw/edge"
)

func TestExpCommit(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	rec := make([]byte, 200)
	for _, name := range []string{"default", "mine"} {
		for _, per := range []int{1000, 4000} {
			dir := t.TempDir()
			o := badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil)
			if name == "mine" {
				o = badgerOptions(dir, edge.DiscardLogger())
			}
			db, _ := badger.Open(o)
			n := 200000
			start := time.Now()
			seq := uint64(0)
			for i := 0; i < n/per; i++ {
				txn := db.NewTransaction(true)
				for j := 0; j < per; j++ {
					seq++
					txn.Set(eventKey(seq), rec)
				}
				if err := txn.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			el := time.Since(start)
			t.Logf("%s per=%d: %.0f ev/s, %.1f ms/commit", name, per, float64(n)/el.Seconds(), el.Seconds()*1000/float64(n/per))
			db.Close()
		}
	}
}

func TestExpStore(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	s, _ := Open(Options{Dir: t.TempDir()})
	defer s.Close()
	ev := edge.Reading("sim-temp-001", "temperature", 21, "C")
	ev.Text = string(make([]byte, 140))
	n := 200000
	done := make(chan struct{}, 1)
	var cnt atomic.Int64
	start := time.Now()
	for p := 0; p < 4; p++ {
		go func() {
			for i := 0; i < n/4; i++ {
				s.AppendAsync(ev, func(edge.Event, error) {
					if cnt.Add(1) == int64(n) {
						done <- struct{}{}
					}
				})
			}
		}()
	}
	<-done
	el := time.Since(start)
	st := s.Stats()
	t.Logf("%.0f ev/s, %d commits, %.1f ms/commit", float64(n)/el.Seconds(), st.Commits, el.Seconds()*1000/float64(st.Commits))
}
