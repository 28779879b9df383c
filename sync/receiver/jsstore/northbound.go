package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The northbound stream: every stored event as one JSON message (the
// schema of docs/central.md, the same object `edgecentral tail --json`
// prints), so the district platform reads it with any NATS client or the
// `nats` CLI, with a durable consumer of its own:
//
//	stream   EDGEGW_NB
//	subject  edgegw.nb.<district>.<street>.<committee>.<compound>.<gateway>.<kind>
//	header   Nats-Msg-Id: <gateway>/<epoch>/<seq>  (unique per event: the idempotency key)
//
// A projector (durable consumer "northbound-json" of the events stream)
// writes it, in stream order, and acknowledges a batch only once all its
// events are in: a crash in between publishes them again, and the stream
// drops the repeats within its duplicate window (NorthboundDedupe);
// consumers that outlive that window dedupe on Nats-Msg-Id.
//
// On a single node (replicas 1) the northbound stream is written with
// asynchronous persistence (fsynced in the background every second, not
// per message as the events stream is): it is derived, and one fsync per
// event would cap it at ~1,500 events/s. After a power cut it may lack
// the last events the projector had acknowledged; so, on start, the
// projector reads the events-stream sequence its last northbound message
// came from (header Edgegw-Source-Seq) and, when its consumer is past
// that, starts again from there (repeats fall in the duplicate window).
// In a cluster (replicas 3) the stream is replicated like the others.
const (
	StreamNorthbound    = "EDGEGW_NB"
	NorthboundPrefix    = "edgegw.nb"
	NorthboundConsumer  = "northbound-json"
	NorthboundDedupe    = 10 * time.Minute
	northboundPublishTO = 5 * time.Second
	// northboundWindow is how many publishes are in flight at most (under
	// nats.go's default limit of 4,000 pending asynchronous publishes).
	northboundWindow = 512
	// NorthboundSourceHeader names the events-stream sequence of the
	// batch a northbound message was projected from.
	NorthboundSourceHeader = "Edgegw-Source-Seq"
)

// NorthboundSubject is the subject of a stored event of kind on the
// events-stream subject evSubject (edgegw.ev.<place>.<gw>.<epoch>).
func NorthboundSubject(evSubject, kind string) string {
	rest := strings.TrimPrefix(evSubject, SubjectPrefix+".")
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[:i] // the epoch
	}
	if kind == "" {
		kind = "event"
	}
	return NorthboundPrefix + "." + rest + "." + kind
}

// EnsureNorthbound creates (or updates) the northbound stream.
func EnsureNorthbound(ctx context.Context, js jetstream.JetStream, replicas int, retention time.Duration) error {
	if replicas < 1 {
		replicas = 1
	}
	cfg := jetstream.StreamConfig{
		Name: StreamNorthbound, Subjects: []string{NorthboundPrefix + ".>"},
		Description: "edgegw events as JSON for the district platform; docs/central.md",
		Storage:     jetstream.FileStorage, Replicas: replicas, MaxAge: retention, Duplicates: NorthboundDedupe,
		Discard: jetstream.DiscardOld, AllowDirect: true,
	}
	if replicas == 1 {
		cfg.PersistMode = jetstream.AsyncPersistMode
	}
	_, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil && strings.Contains(err.Error(), "persist mode") {
		// A stream made by an earlier version keeps its persistence: the
		// server cannot change it on update.
		cfg.PersistMode = jetstream.DefaultPersistMode
		_, err = js.CreateOrUpdateStream(ctx, cfg)
	}
	return err
}

// northboundStart returns the events-stream sequence the projector must
// start again from, or 0 to go on where its consumer is: on a single
// node, when the consumer has acknowledged batches past the one the
// northbound stream's last message came from (a power cut lost the tail
// of the asynchronously persisted stream).
func northboundStart(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	cons, err := js.Consumer(ctx, StreamEvents, NorthboundConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil // a new consumer starts at the first event anyway
	}
	if err != nil {
		return 0, err
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	nb, err := js.Stream(ctx, StreamNorthbound)
	if err != nil {
		return 0, err
	}
	si, err := nb.Info(ctx)
	if err != nil {
		return 0, err
	}
	source := uint64(1) // nothing projected survived: from the start
	if si.State.Msgs > 0 {
		m, err := nb.GetLastMsgForSubject(ctx, NorthboundPrefix+".>")
		if err != nil {
			return 0, err
		}
		if v, perr := strconv.ParseUint(m.Header.Get(NorthboundSourceHeader), 10, 64); perr == nil && v > 0 {
			source = v
		} else {
			return 0, nil // written by an earlier version: no way to tell
		}
	}
	if ci.AckFloor.Stream < source {
		return 0, nil // the consumer is not past it: nothing was lost
	}
	return source, nil
}

// Northbound runs the projector until ctx ends.
func Northbound(ctx context.Context, js jetstream.JetStream, replicas int, retention time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := EnsureNorthbound(ctx, js, replicas, retention); err != nil {
		return fmt.Errorf("northbound stream: %w", err)
	}
	cc := ConsumerConfig{Name: NorthboundConsumer, Logger: log}
	if replicas == 1 {
		from, err := northboundStart(ctx, js)
		if err != nil {
			return fmt.Errorf("northbound start: %w", err)
		}
		if from > 0 {
			log.Warn("the northbound stream lacks events its projector had acknowledged (a power cut?): projecting again", "from_seq", from)
			if err := js.DeleteConsumer(ctx, StreamEvents, NorthboundConsumer); err != nil {
				return fmt.Errorf("northbound start: %w", err)
			}
			cc.DeliverFromSeq = from
		}
	}
	return Consume(ctx, js, cc, func(ctx context.Context, b *Batch, _ uint64) error {
		// Asynchronous publishes, northboundWindow at a time, all acked
		// before the batch is: one round trip per window, not per event
		// (a synchronous R3 publish per event fell behind the ingest).
		pending := make([]jetstream.PubAckFuture, 0, northboundWindow)
		flush := func() error {
			defer func() { pending = pending[:0] }()
			wctx, cancel := context.WithTimeout(ctx, northboundPublishTO)
			defer cancel()
			for _, f := range pending {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
				case <-wctx.Done():
					return fmt.Errorf("publish %s: no ack: %w", f.Msg().Subject, wctx.Err())
				}
			}
			return nil
		}
		for _, ev := range b.Events {
			we, err := ev.Decode()
			if err != nil {
				log.Error("undecodable event skipped", "gateway", ev.Gateway, "cursor", ev.Cursor, "error", err)
				continue
			}
			body, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			m := nats.NewMsg(NorthboundSubject(b.Subject, string(we.Kind)))
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%d/%d", ev.Gateway, we.Epoch, we.Seq))
			m.Header.Set(NorthboundSourceHeader, strconv.FormatUint(b.StreamSeq, 10))
			m.Data = body
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				ferr := flush()
				if ferr == nil {
					ferr = err
				}
				return fmt.Errorf("publish %s: %w", m.Subject, ferr)
			}
			if pending = append(pending, f); len(pending) == northboundWindow {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
}
