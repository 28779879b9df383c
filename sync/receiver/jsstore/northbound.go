package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
const (
	StreamNorthbound    = "EDGEGW_NB"
	NorthboundPrefix    = "edgegw.nb"
	NorthboundConsumer  = "northbound-json"
	NorthboundDedupe    = 10 * time.Minute
	northboundPublishTO = 5 * time.Second
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
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamNorthbound, Subjects: []string{NorthboundPrefix + ".>"},
		Description: "edgegw events as JSON for the district platform; docs/central.md",
		Storage:     jetstream.FileStorage, Replicas: replicas, MaxAge: retention, Duplicates: NorthboundDedupe,
		Discard: jetstream.DiscardOld, AllowDirect: true,
	})
	return err
}

// Northbound runs the projector until ctx ends.
func Northbound(ctx context.Context, js jetstream.JetStream, replicas int, retention time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := EnsureNorthbound(ctx, js, replicas, retention); err != nil {
		return fmt.Errorf("northbound stream: %w", err)
	}
	return Consume(ctx, js, ConsumerConfig{Name: NorthboundConsumer, Logger: log}, func(ctx context.Context, b *Batch, _ uint64) error {
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
			m.Data = body
			pctx, cancel := context.WithTimeout(ctx, northboundPublishTO)
			_, err = js.PublishMsg(pctx, m)
			cancel()
			if err != nil {
				return fmt.Errorf("publish %s: %w", m.Subject, err)
			}
		}
		return nil
	})
}
