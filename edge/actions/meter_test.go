package actions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// slowOutput takes d of the fake clock to take a command.
type slowOutput struct {
	clk  *fakeclock.Clock
	d    time.Duration
	fail error
}

func (s *slowOutput) Apply(ctx context.Context, op edge.Op) error {
	s.clk.Advance(s.d)
	return s.fail
}

func TestMeterCountsCallsAndDurations(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	m := NewMeter()
	r := New(Options{Clock: clk, Meter: m, Outputs: map[string]edge.Output{
		"relay": &slowOutput{clk: clk, d: 3 * time.Millisecond},
		"sms":   &slowOutput{clk: clk, d: 7 * time.Second, fail: errors.New("+CMS ERROR: 330")},
	}})
	ctx := context.Background()
	for range 3 {
		if err := r.Apply(ctx, "relay", edge.Op{Kind: edge.OpSet, On: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(ctx, "sms", edge.Op{Kind: edge.OpSend, Text: "x"}); err == nil {
		t.Fatal("the failing output did not fail")
	}
	// A second runner (a config reload) keeps counting in the same meter.
	r2 := New(Options{Clock: clk, Meter: m, Outputs: map[string]edge.Output{"relay": &slowOutput{clk: clk, d: time.Millisecond}}})
	r2.Apply(ctx, "relay", edge.Op{Kind: edge.OpSet})

	got := m.Stats()
	if len(got) != 2 || got[0].Name != "relay" || got[1].Name != "sms" {
		t.Fatalf("stats %+v, want relay and sms", got)
	}
	relay, sms := got[0], got[1]
	if relay.OK != 4 || relay.Failed != 0 || relay.Count != 4 {
		t.Errorf("relay ok %d failed %d count %d, want 4 0 4", relay.OK, relay.Failed, relay.Count)
	}
	if relay.Buckets[0] != 4 { // 5 ms
		t.Errorf("relay calls within 5 ms: %d, want 4", relay.Buckets[0])
	}
	if sms.Failed != 1 || sms.LastError != "+CMS ERROR: 330" {
		t.Errorf("sms failed %d last error %q", sms.Failed, sms.LastError)
	}
	for i, ub := range edge.LatencyBuckets {
		want := uint64(0)
		if ub >= 7 {
			want = 1
		}
		if sms.Buckets[i] != want {
			t.Errorf("sms bucket le=%g: %d, want %d", ub, sms.Buckets[i], want)
		}
	}
	if d := sms.SumSeconds; d < 6.99 || d > 7.01 {
		t.Errorf("sms sum %v s, want 7", d)
	}
}

// deadlineOutput records how long its context gives it.
type deadlineOutput struct {
	want time.Duration
	got  time.Duration
}

func (d *deadlineOutput) Apply(ctx context.Context, op edge.Op) error {
	if dl, ok := ctx.Deadline(); ok {
		d.got = time.Until(dl)
	}
	return nil
}

func (d *deadlineOutput) ActionTimeout() time.Duration { return d.want }

// An output that needs longer than the runner's bound (a TTS module
// finishing a long text) gets its own; a shorter one does not shorten it.
func TestOutputsOwnActionTimeout(t *testing.T) {
	long, short := &deadlineOutput{want: time.Minute}, &deadlineOutput{want: time.Millisecond}
	r := New(Options{Timeout: 10 * time.Second, Outputs: map[string]edge.Output{"tts": long, "relay": short}})
	r.Apply(context.Background(), "tts", edge.Op{Kind: edge.OpSend, Text: "x"})
	r.Apply(context.Background(), "relay", edge.Op{Kind: edge.OpSet, On: true})
	if long.got < 50*time.Second || short.got < 5*time.Second || short.got > 10*time.Second {
		t.Errorf("tts got %v (want its own minute), relay %v (want the runner's 10s)", long.got, short.got)
	}
}
