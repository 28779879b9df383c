package jsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
)

// ConsumerConfig configures Consume: one durable cursor over the events
// stream, for an exporter (webhook, MQTT, SQL, a JSON-lines stream) or any
// program of the district platform.
type ConsumerConfig struct {
	// Name of the durable consumer ("export-webhook"); it survives
	// restarts of the process and of the servers. Required.
	Name string
	// Scopes are place path prefixes ("putuo/caoyang"), down to a
	// building, unit or household (receiver.ParseScope); none is all. A
	// message with no event in the scopes is acknowledged without calling
	// the handler.
	Scopes []string
	// DeliverFrom is where a new consumer starts: zero for the first stored
	// message, else the first message stored at or after it. An existing
	// consumer continues where it left off.
	DeliverFrom time.Time
	// DeliverFromSeq, when not zero, is the events-stream sequence a new
	// consumer starts at (it wins over DeliverFrom).
	DeliverFromSeq uint64
	// AckWait is how long a handler may take before the message is
	// delivered again; default 1 minute.
	AckWait time.Duration
	// MaxAckPending is how many messages may be in the handler's hands at
	// once (Consume handles them one at a time); default 64.
	MaxAckPending int
	// RetryDelay is how long a message a handler failed waits before it is
	// delivered again; default 5 seconds.
	RetryDelay time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Clock paces the in-progress signals; default the system clock.
	Clock receiver.Clock
}

// Handler handles one message of the events stream: all its events (a
// chunk of one gateway's batch). It returns nil once they are delivered
// (the message is then acknowledged), or an error to have it delivered
// again after RetryDelay. A message may be delivered more than once (a
// crash before the acknowledgement): key the effect on each event's
// (gateway, epoch, seq), which is unique, to make it idempotent. attempt
// is 1 on the first delivery.
type Handler func(ctx context.Context, b *Batch, attempt uint64) error

// Consume creates (or updates) the durable consumer and hands its messages
// to h, one at a time in stream order (a message h failed comes back after
// RetryDelay, possibly behind later ones), until ctx ends. The filter of an
// existing consumer is updated to Scopes.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, h Handler) error {
	if cfg.Name == "" {
		return errors.New("consume: no consumer name")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = 64
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = receiver.SystemClock()
	}
	sc, err := parseScopes(cfg.Scopes, "")
	if err != nil {
		return fmt.Errorf("consumer %s: scope: %w", cfg.Name, err)
	}
	cc := jetstream.ConsumerConfig{Durable: cfg.Name, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait, MaxDeliver: -1, MaxAckPending: cfg.MaxAckPending, FilterSubjects: sc.filters,
		DeliverPolicy: jetstream.DeliverAllPolicy}
	if !cfg.DeliverFrom.IsZero() {
		t := cfg.DeliverFrom
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	if cfg.DeliverFromSeq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = jetstream.DeliverByStartSequencePolicy, cfg.DeliverFromSeq, nil
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamEvents, cc)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cfg.Name, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.MaxAckPending))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cfg.Name, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	boots := consumerBoots(ctx, js)
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			cfg.Logger.Warn("consumer fetch failed", "consumer", cfg.Name, "error", err)
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			m.Term()
			continue
		}
		b, err := DecodeBatch(m.Subject(), md.Sequence.Stream, m.Data())
		if err != nil {
			cfg.Logger.Error("undecodable message skipped", "consumer", cfg.Name, "seq", md.Sequence.Stream, "error", err)
			m.Term()
			continue
		}
		if sc.narrow(b); len(b.Events) == 0 { // nothing of the scopes' buildings
			if err := m.DoubleAck(ctx); err != nil {
				cfg.Logger.Warn("ack failed: the message will come again", "consumer", cfg.Name, "seq", b.StreamSeq, "error", err)
			}
			continue
		}
		// Untrusted times get ts_corrected where the boot is known by
		// now (receiver.CorrectEvents): the exporters and the
		// northbound stream see what the events API serves.
		receiver.CorrectEvents(b.Events, boots)
		// A handler may retry for longer than AckWait: tell the server it
		// is in progress, so that AckWait stays short (a crashed consumer's
		// messages come back soon) without a redelivery meanwhile.
		stopHB := heartbeat(cfg.Clock, cfg.AckWait/3, func() { m.InProgress() })
		err = h(ctx, b, md.NumDelivered)
		stopHB()
		if err != nil {
			cfg.Logger.Warn("handler failed: delivered again later", "consumer", cfg.Name, "seq", b.StreamSeq,
				"attempt", md.NumDelivered, "error", err)
			m.NakWithDelay(cfg.RetryDelay)
			continue
		}
		if err := m.DoubleAck(ctx); err != nil {
			cfg.Logger.Warn("ack failed: the message will come again", "consumer", cfg.Name, "seq", b.StreamSeq, "error", err)
		}
	}
}

// heartbeat calls f every d until the returned stop is called.
func heartbeat(clk receiver.Clock, d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-clk.After(d):
				f()
			}
		}
	}()
	return func() { close(done); <-exited }
}

// Tail delivers the messages stored from now on (or from since) within
// the scopes to h, without a durable cursor (an ordered consumer): what
// `edgecentral tail` over NATS and the district page's live view use.
func Tail(ctx context.Context, js jetstream.JetStream, scopes []string, since time.Time, h func(*Batch) error) error {
	sc, err := parseScopes(scopes, "")
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sc.filters, DeliverPolicy: jetstream.DeliverNewPolicy}
	if !since.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, StreamEvents, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	boots := consumerBoots(ctx, js)
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		b, err := DecodeBatch(m.Subject(), md.Sequence.Stream, m.Data())
		if err != nil {
			continue
		}
		if sc.narrow(b); len(b.Events) == 0 {
			continue
		}
		receiver.CorrectEvents(b.Events, boots)
		if err := h(b); err != nil {
			return err
		}
	}
}
