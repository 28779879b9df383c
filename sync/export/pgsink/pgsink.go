// Package pgsink is the SQL sink of edgecentral: the events and alerts of
// its own durable consumer into PostgreSQL tables it creates, one
// transaction per message of the stream, idempotent on (gateway, epoch,
// seq) so that a redelivery changes nothing.
package pgsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// Schema is what the sink creates (if missing) before its first insert.
// epoch is numeric(20): a uint64 does not fit a bigint. path is the
// event's full path (the gateway's place, then its device's building, unit
// and household); loc is the device's location in the gateway's config,
// loc_building, loc_unit and loc_household its levels below the compound
// (NULL when it names none). Tables of a sink from before events carried
// a location get the loc columns added (ALTER TABLE ... ADD COLUMN IF NOT
// EXISTS); their old rows keep them NULL.
const Schema = `
CREATE TABLE IF NOT EXISTS edgegw_events (
	gateway  text NOT NULL,
	epoch    numeric(20,0) NOT NULL,
	seq      bigint NOT NULL,
	path     text NOT NULL,
	received timestamptz NOT NULL,
	ts       timestamptz NOT NULL,
	trusted  boolean NOT NULL,
	kind     text NOT NULL,
	prio     smallint NOT NULL,
	dev      text,
	pt       text,
	v        double precision,
	unit     text,
	q        smallint,
	text     text,
	event    jsonb NOT NULL,
	PRIMARY KEY (gateway, epoch, seq)
);
ALTER TABLE edgegw_events
	ADD COLUMN IF NOT EXISTS loc text,
	ADD COLUMN IF NOT EXISTS loc_building text,
	ADD COLUMN IF NOT EXISTS loc_unit text,
	ADD COLUMN IF NOT EXISTS loc_household text;
CREATE INDEX IF NOT EXISTS edgegw_events_received ON edgegw_events (received);
CREATE INDEX IF NOT EXISTS edgegw_events_path_ts ON edgegw_events (path, ts);
CREATE TABLE IF NOT EXISTS edgegw_alerts (
	gateway  text NOT NULL,
	epoch    numeric(20,0) NOT NULL,
	seq      bigint NOT NULL,
	path     text NOT NULL,
	ts       timestamptz NOT NULL,
	dev      text,
	alert_id text NOT NULL,
	rule     text,
	state    text NOT NULL,
	severity text,
	message  text,
	by_whom  text,
	PRIMARY KEY (gateway, epoch, seq)
);
ALTER TABLE edgegw_alerts
	ADD COLUMN IF NOT EXISTS loc text,
	ADD COLUMN IF NOT EXISTS loc_building text,
	ADD COLUMN IF NOT EXISTS loc_unit text,
	ADD COLUMN IF NOT EXISTS loc_household text;
CREATE INDEX IF NOT EXISTS edgegw_alerts_alert ON edgegw_alerts (alert_id, ts);
`

const (
	insertEvent = `INSERT INTO edgegw_events (gateway, epoch, seq, path, received, ts, trusted, kind, prio, dev, pt, v, unit, q, text, event,
	loc, loc_building, loc_unit, loc_household)
VALUES ($1, $2::numeric, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
ON CONFLICT (gateway, epoch, seq) DO NOTHING`
	insertAlert = `INSERT INTO edgegw_alerts (gateway, epoch, seq, path, ts, dev, alert_id, rule, state, severity, message, by_whom,
	loc, loc_building, loc_unit, loc_household)
VALUES ($1, $2::numeric, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (gateway, epoch, seq) DO NOTHING`
)

// Config configures a Sink.
type Config struct {
	// DSN is the PostgreSQL connection string
	// (postgres://user@host:5432/db?sslmode=disable). Required.
	DSN string
	// Timeout bounds one transaction (a message of the stream, up to 8192
	// events); default 30s.
	Timeout time.Duration
	export.Options
}

// Sink writes the events of its consumer to PostgreSQL.
type Sink struct {
	c       Config
	m       export.Metrics
	retrier *export.Retrier
	pool    *pgxpool.Pool
	ready   bool // the schema is in place
}

// New checks c and returns its sink; it connects in Run.
func New(c Config) (*Sink, error) {
	if c.DSN == "" {
		return nil, errors.New("postgres: no dsn: want postgres://user@host:5432/db")
	}
	if _, err := pgxpool.ParseConfig(c.DSN); err != nil {
		return nil, fmt.Errorf("postgres dsn: want postgres://user@host:5432/db: %w", err)
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	c.Options.Defaults("postgres")
	s := &Sink{c: c}
	s.retrier = export.NewRetrier(c.Options, &s.m)
	return s, nil
}

// Metrics are the sink's counters.
func (s *Sink) Metrics() *export.Metrics { return &s.m }

// Name is the sink's consumer name.
func (s *Sink) Name() string { return s.c.Name }

// Run connects (lazily: the pool dials on first use) and writes until ctx
// ends.
func (s *Sink) Run(ctx context.Context, js jetstream.JetStream) error {
	pc, err := pgxpool.ParseConfig(s.c.DSN)
	if err != nil {
		return err
	}
	pc.MaxConns = 2
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > s.c.Timeout {
		pc.ConnConfig.ConnectTimeout = s.c.Timeout
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer s.pool.Close()
	return export.Run(ctx, js, s.c.Options, export.AckWait(s.c.Timeout), s.handle)
}

func (s *Sink) handle(ctx context.Context, b *jsstore.Batch, _ uint64) error {
	var queue []func(*pgx.Batch)
	epoch := strconv.FormatUint(b.Epoch, 10)
	first, last := uint64(0), uint64(0)
	for i := range b.Events {
		ev, err := b.Events[i].Decode()
		if err != nil {
			return fmt.Errorf("message %d: event %d: %w", b.StreamSeq, i, err)
		}
		if i == 0 {
			first = ev.Seq
		}
		last = ev.Seq
		se := &b.Events[i]
		loc := []any{null(ev.Location), null(se.Building), null(se.Unit), null(se.Household)}
		args := append([]any{b.Gateway, epoch, int64(ev.Seq), se.Path, b.Received, ev.Time, ev.ClockTrusted, ev.Kind,
			int16(ev.Priority), null(ev.Device), null(ev.Point), value(&ev), null(ev.Unit), int16(ev.Quality), null(ev.Text),
			json.RawMessage(se.Event)}, loc...)
		queue = append(queue, func(pb *pgx.Batch) { pb.Queue(insertEvent, args...) })
		if a := ev.Alert; ev.Kind == wire.KindAlert && a != nil {
			args := append([]any{b.Gateway, epoch, int64(ev.Seq), se.Path, ev.Time, null(ev.Device), a.ID, null(a.Rule),
				a.State, null(a.Severity), null(a.Message), null(a.By)}, loc...)
			queue = append(queue, func(pb *pgx.Batch) { pb.Queue(insertAlert, args...) })
		}
	}
	keys := export.KeyRange(b.Gateway, b.Epoch, first, last)
	return s.retrier.Do(ctx, keys, len(b.Events), func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, s.c.Timeout)
		defer cancel()
		if !s.ready {
			if _, err := s.pool.Exec(ctx, Schema); err != nil {
				return fmt.Errorf("postgres: create tables: %w", err)
			}
			s.ready = true
		}
		batch := &pgx.Batch{}
		for _, q := range queue {
			q(batch)
		}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return tx.SendBatch(ctx, batch).Close()
		})
	})
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// value is a reading's value, or another kind's when it has one (a
// state's number); else NULL.
func value(e *wire.Event) *float64 {
	if e.Kind != wire.KindReading && e.Value == 0 {
		return nil
	}
	return &e.Value
}

var _ export.Exporter = (*Sink)(nil)
