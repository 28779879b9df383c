package receiver

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// BenchmarkIngest measures the receiver end to end over loopback HTTP:
// signed gzip batches of 5,000 readings, verified, decoded, deduped and
// stored durably (fsync per commit) in Badger. Reports events/s (wall
// clock) and events/cpu-s (the process's CPU time, client included).
//
//	go test -run '^$' -bench Ingest -benchtime 200x ./sync/receiver
func BenchmarkIngest(b *testing.B) {
	for _, size := range []int{1000, 5000} {
		b.Run(fmtInt(size), func(b *testing.B) {
			t := &testing.T{}
			r := &rig{t: t, dir: b.TempDir()}
			store, err := OpenBadger(r.dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			rcv, _ := New(Options{Store: store})
			key, _ := rcv.AddGateway("gw1")
			srv := newLoopback(b, rcv)
			// Pre-encode the bodies: the benchmark is the receiver, not the encoder.
			bodies := make([][]byte, b.N)
			for i := range bodies {
				bodies[i], _ = wire.GzipBatch(readings(42, uint64(i*size+1), size))
			}
			client := &http.Client{}
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("POST", srv+wire.PathBatches, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Encoding", "gzip")
				wire.SignRequest(req, "gw1", key, bodies[i], time.Now())
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			reportCPU(b, b.N*size, cpu0)
		})
	}
}

// BenchmarkStoreBatch measures Storage alone: 5,000 new events per commit.
func BenchmarkStoreBatch(b *testing.B) {
	store, err := OpenBadger(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const size = 5000
	batches := make([][]wire.Event, b.N)
	for i := range batches {
		batches[i] = readings(42, uint64(i*size+1), size)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, _, err := store.StoreBatch("gw1", batches[i], time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, b.N*size, cpu0)
}

// reportCPU reports events per CPU-second of this process (client, server
// and Badger's background work together): on a box shared with other work,
// wall-clock events/s understates what the receiver does alone.
func reportCPU(b *testing.B, events int, cpu0 time.Duration) {
	if d := cpuTime() - cpu0; d > 0 {
		b.ReportMetric(float64(events)/d.Seconds(), "events/cpu-s")
	}
}

func fmtInt(n int) string { return jsonNum(uint64(n)) }

func newLoopback(b *testing.B, h http.Handler) string {
	srv := httptestServer(h)
	b.Cleanup(srv.Close)
	return srv.URL
}
