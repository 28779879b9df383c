package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// healthyRun is how long a supervised part must run before a failure
// counts as new: its backoff starts over.
const healthyRun = time.Minute

// superviseDriver runs d until ctx ends. A driver that returns an error or
// panics is restarted with jittered exponential backoff (500ms to 30s); a
// panic in one driver never reaches the others (invariant 5).
func superviseDriver(ctx context.Context, clk edge.Clock, d edge.Driver, sink edge.Sink, log *slog.Logger) {
	run := func(ctx context.Context) error {
		if err := d.Run(ctx, sink); err != nil || ctx.Err() != nil {
			return err
		}
		return errors.New("driver returned before shutdown")
	}
	supervise(ctx, clk, "driver stopped; restarting", run, edge.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Clock: clk}, log)
}

// supervise runs run until ctx ends, restarting it after an error or a
// panic with backoff b, which starts over once run has lasted healthyRun.
// The drivers and the components beside the core (uplink, status server)
// run under it.
func supervise(ctx context.Context, clk edge.Clock, msg string, run func(context.Context) error, b edge.Backoff, log *slog.Logger) {
	for {
		start := clk.Now()
		err := runProtected(ctx, run)
		if ctx.Err() != nil {
			return
		}
		if clk.Now().Sub(start) >= healthyRun {
			b.Reset()
		}
		wait := b.Next()
		log.Warn(msg, "err", err, "in", wait.Round(time.Millisecond))
		if edge.Sleep(ctx, clk, wait) != nil {
			return
		}
	}
}

func runProtected(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return run(ctx)
}
