package jsstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// TestTimeBootsAndCorrectedConsume: the JetStream store keeps each boot's
// earliest start (two receivers writing at once lose none), apart from the
// heartbeats; the consumers (exporters, the northbound stream) get
// ts_corrected on the untrusted events of a known boot.
func TestTimeBootsAndCorrectedConsume(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	s2 := open(t, nc, Options{})
	addGW(t, s, "gw.1", "putuo/caoyang")
	start := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		st := s
		if i%2 == 1 {
			st = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.PutBootStart("gw.1", "boot-"+string(rune('a'+i%4)), start.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	boots, err := s2.BootStarts("gw.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(boots) != 4 {
		t.Fatalf("got %d boots %v, want 4", len(boots), boots)
	}
	for _, b := range boots {
		want := start.Add(time.Duration(b.Boot[5]-'a') * time.Second) // the earlier of i and i+4
		if !b.Start.Equal(want) {
			t.Errorf("boot %s: start %v, want the earliest %v", b.Boot, b.Start, want)
		}
	}
	if err := s.PutHeartbeat("gw.1", wire.Heartbeat{Version: "x", BootID: "boot-a", MonoMillis: 5}, start); err != nil {
		t.Fatal(err)
	}
	gws, err := s.Gateways()
	if err != nil || len(gws) != 1 || gws[0].LastHeartbeat == nil {
		t.Fatalf("gateways beside the boots: %+v, %v", gws, err)
	}

	evs := readings(1, 1, 3)
	evs[1].ClockTrusted, evs[1].Time, evs[1].Boot, evs[1].MonoMillis = false, time.UnixMilli(0).UTC(), "boot-b", 60_000
	evs[2].Boot, evs[2].MonoMillis = "boot-b", 61_000 // trusted: left alone
	if _, _, err := s.StoreBatch("gw.1", evs, time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []receiver.StoredEvent, 1)
	go Consume(ctx, s.JetStream(), ConsumerConfig{Name: "time-test"}, func(_ context.Context, b *Batch, _ uint64) error {
		got <- b.Events
		return nil
	})
	select {
	case ses := <-got:
		var out []wire.Event
		for i := range ses {
			e, err := ses[i].Decode()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		if want := start.Add(time.Second + time.Minute); !out[1].TimeCorrected.Equal(want) {
			t.Errorf("untrusted event: ts_corrected %v, want %v", out[1].TimeCorrected, want)
		}
		if !out[0].TimeCorrected.IsZero() || !out[2].TimeCorrected.IsZero() {
			t.Errorf("trusted events corrected: %v %v", out[0].TimeCorrected, out[2].TimeCorrected)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
}
