package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// superviseDriver runs d until ctx ends. A driver that returns an error or
// panics is restarted with jittered exponential backoff; a panic in one
// driver never reaches the others (invariant 5).
func superviseDriver(ctx context.Context, name string, d edge.Driver, sink edge.Sink, log *slog.Logger) {
	backoff := 500 * time.Millisecond
	const maxBackoff = 30 * time.Second
	for {
		start := time.Now()
		err := runProtected(ctx, d, sink)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("driver returned before shutdown")
		}
		if time.Since(start) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		log.Warn("driver stopped; restarting", "input", name, "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func runProtected(ctx context.Context, d edge.Driver, sink edge.Sink) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return d.Run(ctx, sink)
}
