// Package export holds what the northbound exporters of edgecentral share
// (sync/export/webhook, sync/export/mqtt, sync/export/pgsink): the
// per-event idempotency key, the retry loop with its dead letters, the
// metrics, and the durable consumer they each run on.
package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
)

// Key is an event's idempotency key, "gateway/epoch/seq": unique across
// the district, the same on every redelivery.
func Key(gateway string, epoch, seq uint64) string {
	return gateway + "/" + strconv.FormatUint(epoch, 10) + "/" + strconv.FormatUint(seq, 10)
}

// Options are what every exporter takes besides its destination.
type Options struct {
	// Name of the durable consumer; default "export-<exporter>". Two
	// exporters must not share one.
	Name string
	// Scopes are place path prefixes ("putuo/caoyang"); none is all.
	Scopes []string
	// MaxAttempts a unit (a request, a publish, a transaction) is tried
	// before its events are counted as dead letters, logged with their
	// keys, and acknowledged; default 10.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the jittered wait between attempts;
	// default 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Clock; default the system clock.
	Clock receiver.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Defaults fills the zero fields; exporter names the default consumer.
func (o *Options) Defaults(exporter string) {
	if o.Name == "" {
		o.Name = "export-" + exporter
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Clock == nil {
		o.Clock = receiver.SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Metrics are an exporter's counters.
type Metrics struct {
	Delivered atomic.Uint64 // events delivered (acknowledged by the destination)
	Failed    atomic.Uint64 // failed attempts (a unit of several events counts once)
	Dead      atomic.Uint64 // events given up on after MaxAttempts
}

// Register adds m to reg, labelled exporter=name. The lag of the
// exporter's consumer is jsstore.LagCollector's (label consumer).
func (m *Metrics) Register(reg prometheus.Registerer, name string) error {
	lab := prometheus.Labels{"exporter": name}
	c := func(metric, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: metric, Help: help, ConstLabels: lab},
			func() float64 { return float64(v.Load()) })
	}
	for _, col := range []prometheus.Collector{
		c("edgecentral_export_delivered_events_total", "Events an exporter delivered.", &m.Delivered),
		c("edgecentral_export_failed_attempts_total", "Delivery attempts that failed (retried or given up).", &m.Failed),
		c("edgecentral_export_dead_letters_total", "Events given up on after the last attempt (logged with their keys).", &m.Dead),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// Backoff is the jittered exponential wait between attempts: the
// receiver's own, on its Clock (sync/receiver does not import edge and its
// edge.Backoff).
type Backoff struct {
	Min, Max time.Duration
	Clock    receiver.Clock
	n        int
}

// Next returns the next wait: Min doubled per call up to Max, then a
// random point in its upper half.
func (b *Backoff) Next() time.Duration {
	d := b.Min << min(b.n, 30)
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Wait waits Next() on the clock, or until ctx ends.
func (b *Backoff) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.Clock.After(b.Next()):
		return nil
	}
}

// Retrier tries a unit of delivery until it succeeds or MaxAttempts.
type Retrier struct {
	o Options
	m *Metrics
}

// NewRetrier returns the retrier of an exporter (o with its defaults).
func NewRetrier(o Options, m *Metrics) *Retrier { return &Retrier{o: o, m: m} }

// Do calls fn until it returns nil (the n events are counted delivered)
// or MaxAttempts failed (they are counted dead, logged with keys, and Do
// returns nil: the caller acknowledges them). It returns an error only when
// ctx ended, so that the message comes again.
func (r *Retrier) Do(ctx context.Context, keys string, n int, fn func(ctx context.Context) error) error {
	bo := Backoff{Min: r.o.MinBackoff, Max: r.o.MaxBackoff, Clock: r.o.Clock}
	var err error
	for attempt := 1; attempt <= r.o.MaxAttempts; attempt++ {
		if attempt > 1 {
			if werr := bo.Wait(ctx); werr != nil {
				return werr
			}
		}
		if err = fn(ctx); err == nil {
			r.m.Delivered.Add(uint64(n))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.m.Failed.Add(1)
		r.o.Logger.Warn("export attempt failed", "consumer", r.o.Name, "keys", keys, "attempt", attempt, "error", err)
	}
	r.m.Dead.Add(uint64(n))
	r.o.Logger.Error("export dead letter: events given up", "consumer", r.o.Name, "keys", keys, "events", n,
		"attempts", r.o.MaxAttempts, "error", err)
	return nil
}

// AckWait is how long a message of a crashed exporter waits before it is
// delivered again: a live one signals progress every third of it while it
// retries (jsstore.Consume), however long that takes.
func AckWait(timeout time.Duration) time.Duration { return max(30*time.Second, 2*timeout) }

// maxInHand is how many messages an exporter's consumer has at once: one,
// since a message waiting behind one that is retried would outlive its
// AckWait and come twice.
const maxInHand = 1

// Run runs the exporter's durable consumer until ctx ends, creating it
// again (after a backoff) when it fails, e.g. while NATS is unreachable.
func Run(ctx context.Context, js jetstream.JetStream, o Options, ackWait time.Duration, h jsstore.Handler) error {
	bo := Backoff{Min: o.MinBackoff, Max: o.MaxBackoff, Clock: o.Clock}
	for {
		err := jsstore.Consume(ctx, js, jsstore.ConsumerConfig{Name: o.Name, Scopes: o.Scopes, AckWait: ackWait,
			MaxAckPending: maxInHand, RetryDelay: o.MinBackoff, Logger: o.Logger, Clock: o.Clock}, h)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("consumer stopped")
		}
		o.Logger.Warn("export consumer failed: starting again", "consumer", o.Name, "error", err)
		if bo.Wait(ctx) != nil {
			return nil
		}
	}
}

// KeyRange names the keys of events first..last of one (gateway, epoch)
// for the logs: "gw/epoch/first..last".
func KeyRange(gateway string, epoch, first, last uint64) string {
	if first == last {
		return Key(gateway, epoch, first)
	}
	return fmt.Sprintf("%s..%d", Key(gateway, epoch, first), last)
}

// Exporter is what edgecentral serve runs: one durable consumer each.
type Exporter interface {
	// Name is the consumer's name, the metrics' exporter label.
	Name() string
	// Metrics are its counters.
	Metrics() *Metrics
	// Run delivers until ctx ends.
	Run(ctx context.Context, js jetstream.JetStream) error
}
