package centralbench

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// The read-back's two ways, through an ordered consumer and message by
// message from the stream (its fallback when no consumer delivers), note
// the same events.
func TestReadBackBothWays(t *testing.T) {
	_, nc := natstest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := jsstore.Open(ctx, jsstore.Options{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := receiver.AddPlacedGateway(s, "gw1", "putuo/caoyang/c012/cp07", time.Now()); err != nil {
		t.Fatal(err)
	}
	const batches, per = 5, 20
	for b := range batches {
		evs := make([]wire.Event, per)
		for i := range evs {
			evs[i] = wire.Event{Epoch: 7, Seq: uint64(b*per + i + 1), Kind: wire.KindReading, Device: "t1", Point: "temp", Value: 1, Time: time.Now(), ClockTrusted: true}
		}
		if _, _, err := s.StoreBatch("gw1", evs, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	js, _ := jetstream.New(nc)
	last, err := lastSeq(ctx, js)
	if err != nil || last == 0 {
		t.Fatalf("last sequence %d: %v", last, err)
	}

	var viaConsumer Tally
	if done, err := readFrom(ctx, js, 1, last, &viaConsumer); done != last || err != nil {
		t.Fatalf("consumer: read to %d of %d: %v", done, last, err)
	}
	var direct Tally
	for seq := uint64(1); seq <= last; seq++ {
		if done, err := getOne(ctx, js, seq, &direct); done != seq || err != nil {
			t.Fatalf("direct: message %d: got %d, %v", seq, done, err)
		}
	}
	for _, tl := range []Tally{viaConsumer, direct} {
		if len(tl.Seen) != batches*per || tl.Duplicates != 0 {
			t.Errorf("noted %d events, %d duplicates; want %d, 0", len(tl.Seen), tl.Duplicates, batches*per)
		}
	}
	// A sequence past the end is not found: skipped, not an error.
	if done, err := getOne(ctx, js, last+1, &direct); done != last+1 || err != nil {
		t.Errorf("missing message: got %d, %v", done, err)
	}
}
