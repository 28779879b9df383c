package jsstore

import (
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// prepareEach is the encoding before the shared buffer (for the
// benchmark): one record allocated and grown per event, the body grown
// from empty.
func prepareEach(events []wire.Event, set *receiver.SeqSet) []byte {
	var recs [][]byte
	for i := range events {
		rec, _ := receiver.AppendRecord(nil, &events[i])
		recs = append(recs, rec)
	}
	var body []byte
	for i, rec := range recs {
		set.Add(events[i].Seq)
		body = receiver.AppendBlockRecord(body, rec)
	}
	return body
}

// BenchmarkEncodeChunk compares the per-event records with the shared
// buffer on one batch of 5,000 readings (the uplink's default batch), the
// compressed block included, in one run.
func BenchmarkEncodeChunk(b *testing.B) {
	events := readings(7, 1, 5000)
	recv := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		body func() []byte
	}{
		{"per-event", func() []byte { return prepareEach(events, &receiver.SeqSet{}) }},
		{"shared-buffer", func() []byte {
			byEpoch, epochs, err := prepare("gw", events)
			if err != nil {
				b.Fatal(err)
			}
			body, _, _, _, _, _ := chunkBody(byEpoch[epochs[0]], &receiver.SeqSet{})
			return body
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body := bc.body()
				receiver.AppendBlock(nil, len(events), "gw", recv, body)
			}
			b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
