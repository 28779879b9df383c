package storebench

import (
	"context"
	"testing"
	"time"
)

// TestRunSmall runs every phase on a few events: all events come back, the
// paced run offers half the saturated rate, and latencies are recorded.
func TestRunSmall(t *testing.T) {
	r, err := Run(context.Background(), Config{Events: 3000, Dir: t.TempDir(), Baseline: true, PacedEvents: 500})
	if err != nil {
		t.Fatal(err)
	}
	if r.EventsPerSec <= 0 || r.BaselinePerSec <= 0 || r.Ratio <= 0 {
		t.Errorf("rates not measured: %+v", r)
	}
	if r.PacedEvents != 500 || r.PacedRate != r.EventsPerSec/2 || r.PacedPerSec <= 0 {
		t.Errorf("paced run: offered %v events/s for %d events, want %v for 500", r.PacedRate, r.PacedEvents, r.EventsPerSec/2)
	}
	if r.P99CommitMs < r.P50CommitMs || r.PacedP99Ms < r.PacedP50Ms || r.PacedP50Ms <= 0 {
		t.Errorf("quantiles out of order: %+v", r)
	}
	if r.Commits == 0 || r.EventsPerCommit <= 0 {
		t.Errorf("no commits counted: %+v", r)
	}
}

func TestLatencyQuantile(t *testing.T) {
	l := new(latency)
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	if got := l.quantile(0.5); got < 50 || got > 50.2 {
		t.Errorf("p50 = %v ms, want ~50", got)
	}
	if got := l.quantile(0.99); got < 99 || got > 99.2 {
		t.Errorf("p99 = %v ms, want ~99", got)
	}
	if got := float64(l.max.Load()) / 1e6; got != 100 {
		t.Errorf("max = %v ms, want 100", got)
	}
	// Durable before due (the paced producer runs up to 1 ms early)
	// counts as 0, and overlong waits land in the last bucket.
	l.add(-time.Millisecond)
	l.add(time.Hour)
	if l.b[0].Load() != 1 || l.b[len(l.b)-1].Load() != 1 {
		t.Errorf("first bucket %d, last bucket %d, want 1 and 1", l.b[0].Load(), l.b[len(l.b)-1].Load())
	}
}
