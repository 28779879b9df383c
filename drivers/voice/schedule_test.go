package voice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// TestQuietHoursLowerVolume runs on a fake clock against an MP3 module.
func TestQuietHoursLowerVolume(t *testing.T) {
	peer, path := newPeer(t, "dy", nil)
	clock := fakeclock.New(time.Date(2026, 11, 29, 21, 59, 0, 0, time.UTC))
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: dy, volume: 25, timezone: UTC, command_gap: 0s,
  quiet_hours: {windows: ["22:00-07:00"], volume: 8}, rate_limit: {n: 0}}`, path))
	ctx := context.Background()
	var want []byte
	for _, step := range []struct {
		at   time.Duration // after 21:59
		want string
	}{
		{0, "AA 13 01 19 D7 AA 07 02 00 03 B6"},                         // 21:59: volume 25
		{time.Minute, "AA 13 01 08 C6 AA 07 02 00 03 B6"},               // 22:00: quiet, 8
		{9 * time.Hour, "AA 13 01 08 C6 AA 07 02 00 03 B6"},             // 06:59
		{9*time.Hour + time.Minute, "AA 13 01 19 D7 AA 07 02 00 03 B6"}, // 07:00: day again
	} {
		clock.Set(time.Date(2026, 11, 29, 21, 59, 0, 0, time.UTC).Add(step.at))
		if err := o.Apply(ctx, send(map[string]string{"track": "3"})); err != nil {
			t.Fatal(err)
		}
		want = append(want, hx(step.want)...)
		waitPeer(t, peer, 5*time.Second, "the frames", func() bool { return len(peer.Raw()) >= len(want) })
	}
	if got := peer.Raw(); !bytes.Equal(got, want) {
		t.Errorf("module got % X\nwant % X", got, want)
	}
}

func TestQuietHoursMute(t *testing.T) {
	peer, path := newPeer(t, "dy", nil)
	clock := fakeclock.New(time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)) // 22:00 in Shanghai
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: dy, timezone: Asia/Shanghai, command_gap: 0s,
  quiet_hours: {windows: ["12:00-14:00", "22:00-07:00"], mute: true}}`, path))
	ctx := context.Background()
	err := o.Apply(ctx, send(map[string]string{"track": "2"}))
	if !errors.Is(err, ErrQuietHours) || !strings.Contains(err.Error(), "22:00-07:00") || !strings.Contains(err.Error(), `output "voice"`) {
		t.Fatalf("got %v, want ErrQuietHours naming the output and the hours", err)
	}
	if err := o.Test(ctx); !errors.Is(err, ErrQuietHours) {
		t.Fatalf("Test in quiet hours: got %v", err)
	}
	clock.Set(time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)) // 09:00
	if err := o.Apply(ctx, send(map[string]string{"track": "2"})); err != nil {
		t.Fatal(err)
	}
	want := hx("AA 13 01 14 D2 AA 07 02 00 02 B5")
	waitPeer(t, peer, 5*time.Second, "the day's frames", func() bool { return len(peer.Raw()) >= len(want) })
	if got := peer.Raw(); !bytes.Equal(got, want) { // nothing of the muted plays
		t.Errorf("module got % X\nwant % X", got, want)
	}
	if _, q := o.Refused(); q != 2 {
		t.Errorf("got %d muted, want 2", q)
	}
	if s := o.Stats()[0]; s.ErrorsByCause["quiet_hours"] != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestRateLimit(t *testing.T) {
	peer, path := newPeer(t, "jq8400", nil)
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: jq8400, timezone: UTC, command_gap: 0s, rate_limit: {n: 2, per: 10m}}`, path))
	ctx := context.Background()
	play := func() error { return o.Apply(ctx, send(map[string]string{"track": "4"})) }
	if err := play(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := play(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	err := play()
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "10:10:00") {
		t.Fatalf("third play: got %v, want ErrRateLimited saying when the next is allowed", err)
	}
	// A stop is never limited: it is how a technician silences the module.
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet}); err != nil {
		t.Fatalf("stop while rate limited: %v", err)
	}
	clock.Set(start.Add(10*time.Minute + time.Second)) // the first play left the window
	if err := play(); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if err := play(); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("got %v", err)
	}
	waitPeer(t, peer, 5*time.Second, "three plays and a stop", func() bool { return len(peer.Frames()) >= 7 })
	if got := len(peer.Frames()); got != 7 {
		t.Errorf("module got %d frames, want 7 (three plays of volume + track, a stop)", got)
	}
	// A clock set back an hour does not hold the limit shut.
	clock.Set(start.Add(-time.Hour))
	if err := play(); err != nil {
		t.Fatalf("after the clock went back: %v", err)
	}
	waitPeer(t, peer, 5*time.Second, "the play after the jump", func() bool { return len(peer.Frames()) >= 9 })
	if l, _ := o.Refused(); l != 2 {
		t.Errorf("got %d rate limited, want 2", l)
	}
	if s := o.Stats()[0]; s.ErrorsByCause["rate_limited"] != 2 || s.Frames != 5 {
		t.Errorf("stats %+v", s)
	}
}

// TestDefaultRateLimit: without rate_limit, 10 plays per 10 minutes.
func TestDefaultRateLimit(t *testing.T) {
	_, path := newPeer(t, "dy", nil)
	clock := fakeclock.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: dy, command_gap: 0s}`, path))
	for i := 0; i < DefaultRateN; i++ {
		if err := o.Apply(context.Background(), send(map[string]string{"track": "1"})); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Apply(context.Background(), send(map[string]string{"track": "1"})); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("play %d: got %v, want ErrRateLimited", DefaultRateN+1, err)
	}
}

// TestCommandGapOnClock: the pause between the volume and the track frame
// is a wait on the output's clock.
func TestCommandGapOnClock(t *testing.T) {
	peer, path := newPeer(t, "dy", nil)
	clock := fakeclock.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: dy}`, path))
	done := make(chan error, 1)
	go func() { done <- o.Apply(context.Background(), send(map[string]string{"track": "1"})) }()
	if !clock.BlockUntil(1, 5*time.Second) {
		t.Fatal("the output never waited on the clock")
	}
	waitPeer(t, peer, 5*time.Second, "the volume frame", func() bool { return len(peer.Frames()) == 1 })
	if len(peer.Frames()) != 1 {
		t.Fatal("the track frame went out before the gap")
	}
	clock.Advance(DefaultGap)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitPeer(t, peer, 5*time.Second, "the track frame", func() bool { return len(peer.Frames()) == 2 })
}
