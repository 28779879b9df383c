package edge

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the one jittered exponential backoff of the gateway: reconnect
// loops of drivers, restarts of supervised components, retries of the
// uplink's steps. It runs on a Clock, so tests drive it with a fake one.
//
// Each wait is drawn uniformly from [(1-Jitter)·d, d] where d doubles from
// Min up to Max; Reset starts over (call it once the thing worked for a
// while). The jitter keeps gateways that lost power together from retrying
// a shared bus or the central server in step.
//
// A Backoff is not safe for concurrent use; each loop owns its own.
type Backoff struct {
	Min    time.Duration // first wait; default 500ms
	Max    time.Duration // longest wait; default 30s
	Jitter float64       // fraction of each wait that is random, 0..1; default 0.5
	Clock  Clock         // default SystemClock

	cur time.Duration
}

// Next returns the next wait and advances the backoff.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi < lo {
		hi = max(lo, 30*time.Second)
	}
	j := b.Jitter
	if j <= 0 || j > 1 {
		j = 0.5
	}
	if b.cur < lo {
		b.cur = lo
	}
	d := b.cur
	b.cur = min(2*b.cur, hi)
	spread := time.Duration(float64(d) * j)
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(spread+1)
}

// Reset makes the next wait Min again.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for Next() on the backoff's clock. It returns ctx.Err() as
// soon as ctx ends, nil when the wait is over.
func (b *Backoff) Wait(ctx context.Context) error {
	return Sleep(ctx, b.clock(), b.Next())
}

func (b *Backoff) clock() Clock {
	if b.Clock == nil {
		return SystemClock{}
	}
	return b.Clock
}

// Sleep waits d on clock c, or until ctx ends (then it returns ctx.Err()).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	if c == nil {
		c = SystemClock{}
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
