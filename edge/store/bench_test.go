package store

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// event200 is a reading whose record is 200 bytes.
func event200() edge.Event {
	ev := edge.Reading("sim-temp-001", "temperature", 21.5, "C")
	ev.Priority = edge.PriorityLow
	ev.Text = strings.Repeat("x", 200-EncodedLen(&ev)-1)
	return ev
}

// BenchmarkAppendAsync: durable group-committed ingest from 4 producers.
func BenchmarkAppendAsync(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := event200()
	b.SetBytes(200)
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Add(b.N)
	var pw sync.WaitGroup
	for p := 0; p < 4; p++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := p; i < b.N; i += 4 {
				if err := s.AppendAsync(ev, func(edge.Event, error) { wg.Done() }); err != nil {
					b.Error(err)
					wg.Done()
				}
			}
		}()
	}
	pw.Wait()
	wg.Wait()
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Appended)/float64(max(st.Commits, 1)), "events/commit")
}

// BenchmarkAppendOne: one caller, one event at a time (latency of a lone
// event: CommitWait plus one fsync).
func BenchmarkAppendOne(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := event200()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawBadger1000 is the baseline: Badger defaults, SyncWrites on,
// 1000 records of 200 bytes per transaction.
func BenchmarkRawBadger1000(b *testing.B) {
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ev := event200()
	rec := Encode(nil, &ev)
	b.SetBytes(200)
	b.ResetTimer()
	for i := 0; i < b.N; {
		txn := db.NewTransaction(true)
		for j := 0; j < 1000 && i < b.N; j, i = j+1, i+1 {
			if err := txn.Set(binary.BigEndian.AppendUint64([]byte{'e'}, uint64(i)), rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := txn.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads 1000 events at a time.
func BenchmarkRead(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	evs := make([]edge.Event, 10000)
	for i := range evs {
		evs[i] = event200()
	}
	if _, err := s.Append(context.Background(), evs...); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(200 * 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := s.Read(uint64(i%9)*1000+1, 1000)
		if err != nil || len(got) != 1000 {
			b.Fatalf("read: %d %v", len(got), err)
		}
	}
}
