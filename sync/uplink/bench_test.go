package uplink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/store"
)

// BenchmarkReadAndEncodeBatch measures the gateway's side of one batch of
// 5000 readings: read from the store, convert, encode, gzip.
func BenchmarkReadAndEncodeBatch(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	evs := make([]edge.Event, 5000)
	for i := range evs {
		evs[i] = edge.Reading(fmt.Sprintf("b%d-u%d-temp", i%4, i%16), "temperature", 20+float64(i%50)/10, "C")
	}
	if _, err := st.Append(context.Background(), evs...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		read, err := st.Read(1, 5000)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		body, err := encode(read)
		if err != nil {
			b.Fatal(err)
		}
		_ = t0
		size = len(body)
	}
	b.ReportMetric(float64(size)/5000, "B/event")
	b.ReportMetric(float64(b.N*5000)/b.Elapsed().Seconds(), "events/s")
}
