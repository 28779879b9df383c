package edge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

func TestBackoffBounds(t *testing.T) {
	b := edge.Backoff{Min: time.Second, Max: 8 * time.Second, Jitter: 0.5}
	wantHi := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, hi := range wantHi {
		hi *= time.Second
		got := b.Next()
		if got < hi/2 || got > hi {
			t.Fatalf("wait %d: got %v, want in [%v, %v]", i, got, hi/2, hi)
		}
	}
	b.Reset()
	if got := b.Next(); got > time.Second {
		t.Fatalf("after Reset: got %v, want <= 1s", got)
	}
}

func TestBackoffNoJitterIsExact(t *testing.T) {
	b := edge.Backoff{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond, Jitter: 1e-9}
	for i, want := range []time.Duration{100, 200, 300, 300} {
		if got := b.Next(); got != want*time.Millisecond {
			t.Fatalf("wait %d: got %v, want %v", i, got, want*time.Millisecond)
		}
	}
}

func TestBackoffWaitOnClock(t *testing.T) {
	clk := fakeclock.New(time.Unix(1e9, 0))
	b := edge.Backoff{Min: time.Minute, Max: time.Hour, Clock: clk}
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	if !clk.BlockUntil(1, 10*time.Second) {
		t.Fatal("Wait did not park on the clock")
	}
	clk.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Wait: got %v, want nil", err)
	}
}

func TestBackoffWaitWakesOnCancel(t *testing.T) {
	clk := fakeclock.New(time.Unix(1e9, 0))
	b := edge.Backoff{Min: time.Hour, Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx) }()
	clk.BlockUntil(1, 10*time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: got %v, want context.Canceled", err)
	}
}

func TestLogThrottle(t *testing.T) {
	clk := fakeclock.New(time.Unix(1e9, 0))
	th := edge.LogThrottle{Interval: time.Minute, Clock: clk}
	steps := []struct {
		advance        time.Duration
		key            string
		ok             bool
		suppressedWant uint64
	}{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0},
		{time.Minute, "a", true, 2},
		{time.Second, "a", false, 0},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		ok, n := th.Allow(s.key)
		if ok != s.ok || n != s.suppressedWant {
			t.Fatalf("step %d: got (%v, %d), want (%v, %d)", i, ok, n, s.ok, s.suppressedWant)
		}
	}
}
