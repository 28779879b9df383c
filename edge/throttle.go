package edge

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogThrottle is the one log throttle of the gateway: a message that repeats
// in a retry or poll loop (a dead slave, an unplugged port, a central server
// that is down) is logged at most once per Interval per key, and the next
// line that gets through says how many were kept quiet in between
// (Tailscale's RateLimitedFn, with a count). It is safe for concurrent use.
type LogThrottle struct {
	Log      *slog.Logger
	Interval time.Duration // default 1m
	Clock    Clock         // default SystemClock

	mu   sync.Mutex
	keys map[string]*throttleKey
}

type throttleKey struct {
	last       time.Time
	suppressed uint64
}

// maxThrottleKeys bounds the memory of a throttle whose keys come from
// outside (device ids, error texts): past it, the oldest key is dropped.
const maxThrottleKeys = 4096

// Allow reports whether a line for key may be logged now, and how many
// were suppressed since the last one that was.
func (t *LogThrottle) Allow(key string) (ok bool, suppressed uint64) {
	c := t.Clock
	if c == nil {
		c = SystemClock{}
	}
	now := c.Now()
	iv := t.Interval
	if iv <= 0 {
		iv = time.Minute
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*throttleKey{}
	}
	k := t.keys[key]
	if k == nil {
		if len(t.keys) >= maxThrottleKeys {
			t.evictOldest()
		}
		k = &throttleKey{}
		t.keys[key] = k
	} else if d := now.Sub(k.last); d >= 0 && d < iv {
		k.suppressed++
		return false, 0
	}
	suppressed, k.last, k.suppressed = k.suppressed, now, 0
	return true, suppressed
}

func (t *LogThrottle) evictOldest() {
	var oldest string
	var at time.Time
	for name, k := range t.keys {
		if oldest == "" || k.last.Before(at) {
			oldest, at = name, k.last
		}
	}
	delete(t.keys, oldest)
}

// LogAttrs logs msg at level under key, unless a line for key was logged less
// than Interval ago. A line that follows suppressed ones carries
// "suppressed", N.
func (t *LogThrottle) LogAttrs(ctx context.Context, key string, level slog.Level, msg string, args ...any) {
	ok, n := t.Allow(key)
	if !ok || t.Log == nil {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	t.Log.Log(ctx, level, msg, args...)
}

// Warn is LogAttrs at warning level.
func (t *LogThrottle) Warn(key, msg string, args ...any) {
	t.LogAttrs(context.Background(), key, slog.LevelWarn, msg, args...)
}

// Error is LogAttrs at error level.
func (t *LogThrottle) Error(key, msg string, args ...any) {
	t.LogAttrs(context.Background(), key, slog.LevelError, msg, args...)
}
