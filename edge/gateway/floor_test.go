package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/gateway"
)

func TestClockFloorFile(t *testing.T) {
	dir := t.TempDir()
	f, err := gateway.LoadClockFloor(dir)
	if err != nil || !f.Time().Equal(edge.MinClockFloor) {
		t.Fatalf("no file: got %v, %v; want MinClockFloor, no error", f.Time(), err)
	}
	saved := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Raise(saved)
	if err := gateway.SaveClockFloor(dir, f); err != nil {
		t.Fatal(err)
	}
	if f, err = gateway.LoadClockFloor(dir); err != nil || !f.Time().Equal(saved) {
		t.Fatalf("saved floor: got %v, %v; want %v", f.Time(), err, saved)
	}
	if _, err := os.Stat(filepath.Join(dir, "clock-floor.json.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clock-floor.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = gateway.LoadClockFloor(dir)
	if err == nil || !strings.Contains(err.Error(), "clock-floor.json") || !f.Time().Equal(edge.MinClockFloor) {
		t.Errorf("corrupt file: got %v, %v; want an error naming the file and MinClockFloor", f.Time(), err)
	}
}

// TestClockBeforeFloorMarksEventsUntrusted: a gateway whose data directory
// says the clock was once a year ahead of now (what a box that booted at
// an old time sees) records its events untrusted, each with the boot
// anchor, and does not lower the floor.
func TestClockBeforeFloorMarksEventsUntrusted(t *testing.T) {
	dir := t.TempDir()
	ahead := edge.NewClockFloor(time.Now().Add(365 * 24 * time.Hour))
	if err := gateway.SaveClockFloor(dir, ahead); err != nil {
		t.Fatal(err)
	}
	r := start(t, parse(t, dir, 50, ""))
	waitFor(t, r.g, "20 events", func() bool { return r.g.Store().LastSeq() >= 20 })
	r.stop()
	evs := readAll(t, dir)
	if len(evs) < 20 {
		t.Fatalf("%d events", len(evs))
	}
	boot := evs[0].Boot
	for _, ev := range evs {
		if ev.ClockTrusted {
			t.Fatalf("event %d is trusted with the clock before the floor", ev.Seq)
		}
		if ev.Boot == "" || ev.Boot != boot {
			t.Fatalf("event %d: boot %q, want the one boot %q", ev.Seq, ev.Boot, boot)
		}
	}
	if first, last := evs[0].Mono, evs[len(evs)-1].Mono; first <= 0 || last < first {
		t.Errorf("monotonic anchors %v .. %v, want positive and not decreasing", first, last)
	}
	f, err := gateway.LoadClockFloor(dir)
	if err != nil || !f.Time().Equal(ahead.Time()) {
		t.Errorf("floor after the run: %v, %v; want it kept at %v", f.Time(), err, ahead.Time())
	}
}

type trust struct{ synced bool }

func (t trust) ClockSynced() (bool, bool) { return t.synced, true }

// TestClockFloorSavedAtShutdown: a gateway whose OS says the clock is
// synchronised raises the floor to its time and saves it when it stops; one
// whose clock nothing confirms leaves no floor behind.
func TestClockFloorSavedAtShutdown(t *testing.T) {
	for _, synced := range []bool{true, false} {
		dir := t.TempDir()
		g, err := gateway.New(gateway.Options{Config: parse(t, dir, 5, ""), Logger: edge.DiscardLogger(), ClockTrust: trust{synced}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		waitReady(t, g)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		_, statErr := os.Stat(filepath.Join(dir, "clock-floor.json"))
		f, err := gateway.LoadClockFloor(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !synced {
			if !os.IsNotExist(statErr) || !f.Time().Equal(edge.MinClockFloor) {
				t.Errorf("unconfirmed clock: floor file %v, floor %v; want none", statErr, f.Time())
			}
			continue
		}
		if d := stopped.Sub(f.Time()); d < 0 || d > 5*time.Second {
			t.Errorf("synchronised clock: saved floor %v, want the shutdown time %v", f.Time(), stopped)
		}
	}
}
