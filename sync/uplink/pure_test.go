package uplink

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

func TestBackoffCapsRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	b := Backoff(60*time.Second, fakeclock.New(now))
	resp := func(status int, ra string) *http.Response {
		h := http.Header{}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	for _, tc := range []struct {
		name     string
		resp     *http.Response
		min, max time.Duration
	}{
		{"429 seconds", resp(429, "7"), 7 * time.Second, 7 * time.Second},
		{"503 seconds", resp(503, "2"), 2 * time.Second, 2 * time.Second},
		{"429 a day is capped", resp(429, "86400"), 60 * time.Second, 60 * time.Second},
		{"429 http date", resp(429, now.Add(30*time.Second).UTC().Format(http.TimeFormat)), 30 * time.Second, 30 * time.Second},
		{"429 date in the past", resp(429, now.Add(-time.Hour).UTC().Format(http.TimeFormat)), 0, 0},
		{"429 garbage falls back to backoff", resp(429, "soon"), 50 * time.Millisecond, 100 * time.Millisecond},
		{"500 ignores Retry-After", resp(500, "30"), 50 * time.Millisecond, 100 * time.Millisecond},
		{"network error", nil, 50 * time.Millisecond, 100 * time.Millisecond},
	} {
		for i := 0; i < 20; i++ {
			got := b(100*time.Millisecond, 10*time.Second, 0, tc.resp)
			if got < tc.min || got > tc.max {
				t.Fatalf("%s: got %v, want %v..%v", tc.name, got, tc.min, tc.max)
			}
		}
	}
	// Exponential, jittered, bounded by max.
	for attempt, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		for i := 0; i < 20; i++ {
			got := b(100*time.Millisecond, time.Second, attempt, nil)
			if got < want/2 || got > want {
				t.Fatalf("attempt %d: got %v, want %v..%v", attempt, got, want/2, want)
			}
		}
	}
}

func TestMainPlanSkipsAckedPriorityEvents(t *testing.T) {
	ev := func(seq uint64, p edge.Priority) edge.Event {
		return edge.Event{Seq: seq, Priority: p, Kind: edge.KindReading, Device: "d"}
	}
	read := []edge.Event{ev(1, 0), ev(2, edge.PriorityAlert), ev(3, 0), ev(4, edge.PriorityHigh), ev(5, edge.PriorityAlert), ev(6, 0)}
	// The priority lane acknowledged up to seq 4 (its cursor is 5).
	send, covered := mainPlan(read, 5, 1<<20)
	var seqs []uint64
	for _, e := range send {
		seqs = append(seqs, e.Seq)
	}
	if covered != 6 || len(seqs) != 4 || seqs[0] != 1 || seqs[1] != 3 || seqs[2] != 5 || seqs[3] != 6 {
		t.Fatalf("got send %v covered %d, want [1 3 5 6] covered 6", seqs, covered)
	}
	// A byte cap ends the plan early, always with at least one event.
	send, covered = mainPlan(read, 0, 1)
	if len(send) != 1 || covered != 1 {
		t.Fatalf("tiny cap: got %d events covering %d, want 1 covering 1", len(send), covered)
	}
	// Only acknowledged priority events: nothing to send, all covered.
	send, covered = mainPlan(read[1:2], 5, 1<<20)
	if len(send) != 0 || covered != 1 {
		t.Fatalf("acked only: got %d to send covering %d, want 0 covering 1", len(send), covered)
	}
}

func TestToWireLocation(t *testing.T) {
	on := true
	for _, ev := range []edge.Event{
		{Kind: edge.KindState, Device: "door-1", Text: "open", Location: "cp07/3/2/301"},
		{Kind: edge.KindStatus, Device: "door-1", Online: &on, Location: "cp07/3"},
		{Kind: edge.KindAlert, Device: "door-1", Location: "cp07/3/2/301", Alert: &edge.Alert{ID: "a", State: edge.AlertFiring}},
		{Kind: edge.KindGap, Gap: &edge.Gap{From: 1, To: 2}},
	} {
		if got := toWire(&ev); got.Location != ev.Location {
			t.Errorf("%s event: got location %q, want %q", ev.Kind, got.Location, ev.Location)
		}
	}
}
