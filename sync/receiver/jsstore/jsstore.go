// Package jsstore is receiver.Storage on NATS JetStream: events in the
// stream EDGEGW_EVENTS (one message per chunk of a batch, on a subject per
// (place, gateway, epoch)), gateways, heartbeats, configs, alerts and
// results in KV buckets, commands in the stream EDGEGW_CMDS, attachments in
// an object store. Any number of receivers may share one JetStream: they
// keep no state that matters (docs/central.md).
package jsstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// Names of the streams, buckets and object store.
const (
	StreamEvents   = "EDGEGW_EVENTS"
	StreamCommands = "EDGEGW_CMDS"
	BucketGateways = "EDGEGW_GATEWAYS"
	BucketConfig   = "EDGEGW_CONFIG"
	BucketHeartbt  = "EDGEGW_HEARTBEAT"
	BucketResults  = "EDGEGW_RESULTS"
	BucketAlerts   = "EDGEGW_ALERTS"
	BucketStats    = "EDGEGW_STATS"
	ObjectAttach   = "EDGEGW_ATTACH"

	commandPrefix = "edgegw.cmd"
	// maxEventBytes is the largest event (receiver.EventSize's estimate).
	maxEventBytes = 256 << 10
	// maxRanges bounds a stored set so that it fits a message.
	maxRanges = 40_000
)

// Options configure Open.
type Options struct {
	// Conn is the connection: in-process to an embedded node, or TCP to a
	// cluster. Required; the caller closes it after Close.
	Conn *nats.Conn
	// Replicas of every stream and bucket: 1 (default) or 3.
	Replicas int
	// Retention is how long events are kept; default 90 days.
	Retention time.Duration
	// MaxBytes caps the events stream; when full, new batches are refused
	// (503, the gateways keep their backlog). 0: no cap.
	MaxBytes int64
	// OpTimeout bounds each JetStream call; default 2s.
	OpTimeout time.Duration
	// BatchTimeout bounds a StoreBatch call in all (then ErrUnavailable);
	// default 5s.
	BatchTimeout time.Duration
	// ChunkEvents and ChunkBytes bound one message: default 8192 events and
	// 512 KiB of records (before compression).
	ChunkEvents, ChunkBytes int
	// Clock gives the time; default the system clock.
	Clock receiver.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Store is the JetStream storage.
type Store struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	ev     jetstream.Stream
	cmds   jetstream.Stream
	gwKV   jetstream.KeyValue
	cfgKV  jetstream.KeyValue
	hbKV   jetstream.KeyValue
	resKV  jetstream.KeyValue
	alKV   jetstream.KeyValue
	stKV   jetstream.KeyValue
	att    jetstream.ObjectStore
	relMu  gosync.Mutex
	rel    *relHandles // the release buckets, once they exist (release.go)
	clk    receiver.Clock
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup

	gwMu   gosync.Mutex
	gws    map[string]receiver.Gateway
	gwGen  uint64 // counts forgetGateway: a read older than it is not cached
	stMu   gosync.Mutex
	states map[string]subjState
	locks  keyLocks
	statMu gosync.Mutex
	dirty  map[string]statRec

	m metrics
	// afterPublish, when set (tests), is called after every publish.
	afterPublish func(subj string, err error)
}

var _ receiver.Storage = (*Store)(nil)
var _ receiver.Querier = (*Store)(nil)

// Open creates or updates the streams and buckets and starts the store. It
// retries until ctx ends while JetStream has no leader (a cluster that is
// forming).
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Conn == nil {
		return nil, errors.New("jsstore: no connection")
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 5 * time.Second
	}
	if o.ChunkEvents <= 0 || o.ChunkEvents > 60000 {
		o.ChunkEvents = 8192
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 512 << 10
	}
	if o.Clock == nil {
		o.Clock = receiver.SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(o.Conn, jetstream.WithDefaultTimeout(o.OpTimeout))
	if err != nil {
		return nil, err
	}
	s := &Store{o: o, nc: o.Conn, js: js, clk: o.Clock, log: o.Logger, gws: map[string]receiver.Gateway{},
		states: map[string]subjState{}, dirty: map[string]statRec{}}
	s.m.init()
	var last error
	for attempt := 0; ; attempt++ {
		if last = s.setup(ctx); last == nil {
			break
		}
		if !transient(last) && !errors.Is(last, jetstream.ErrJetStreamNotEnabled) {
			return nil, fmt.Errorf("jetstream setup: %w", last)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream setup: %w: %w", receiver.ErrUnavailable, last)
		case <-s.clk.After(500 * time.Millisecond):
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.watchGateways()
	go s.flushStats()
	return s, nil
}

func (s *Store) setup(ctx context.Context) error {
	r := s.o.Replicas
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	evCfg := jetstream.StreamConfig{
		Name: StreamEvents, Subjects: []string{SubjectPrefix + ".>"},
		Description: "edgegw events: one message per chunk of a batch of one (gateway, epoch); docs/central.md",
		Storage:     jetstream.FileStorage, Replicas: r, Retention: jetstream.LimitsPolicy,
		MaxAge: s.o.Retention, MaxMsgsPerSubject: -1, MaxMsgSize: 1 << 20, MaxMsgs: -1, MaxBytes: -1,
		Discard: jetstream.DiscardNew, AllowDirect: true, DenyDelete: true, DenyPurge: true,
		Duplicates: 2 * time.Minute,
	}
	if s.o.MaxBytes > 0 {
		evCfg.MaxBytes = s.o.MaxBytes
	}
	if s.ev, err = s.ensureStream(cctx, evCfg); err != nil {
		return err
	}
	if s.cmds, err = s.ensureStream(cctx, jetstream.StreamConfig{
		Name: StreamCommands, Subjects: []string{commandPrefix + ".>"},
		Description: "edgegw downlink commands; a command's id is its stream sequence",
		Storage:     jetstream.FileStorage, Replicas: r, MaxAge: s.o.Retention, AllowDirect: true,
		MaxMsgSize: 64 << 10,
	}); err != nil {
		return err
	}
	kv := func(name string, hist uint8) (jetstream.KeyValue, error) {
		if _, st, err := s.existing(cctx, "KV_"+name); err != nil {
			return nil, err
		} else if st != nil && st.Replicas == r && st.MaxMsgsPerSubject == int64(hist) {
			return s.js.KeyValue(cctx, name)
		}
		mctx, cancel := s.createCtx(cctx)
		defer cancel()
		return s.js.CreateOrUpdateKeyValue(mctx, jetstream.KeyValueConfig{Bucket: name, History: hist,
			Storage: jetstream.FileStorage, Replicas: r})
	}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
		hist uint8
	}{{&s.gwKV, BucketGateways, 1}, {&s.cfgKV, BucketConfig, 5}, {&s.hbKV, BucketHeartbt, 1},
		{&s.resKV, BucketResults, 1}, {&s.alKV, BucketAlerts, 1}, {&s.stKV, BucketStats, 1}} {
		if *b.kv, err = kv(b.name, b.hist); err != nil {
			return fmt.Errorf("bucket %s: %w", b.name, err)
		}
	}
	if _, st, err := s.existing(cctx, "OBJ_"+ObjectAttach); err != nil {
		return fmt.Errorf("object store %s: %w", ObjectAttach, err)
	} else if st != nil && st.Replicas == r && st.MaxAge == s.o.Retention {
		s.att, err = s.js.ObjectStore(cctx, ObjectAttach)
	} else {
		mctx, cancel := s.createCtx(cctx)
		s.att, err = s.js.CreateOrUpdateObjectStore(mctx, jetstream.ObjectStoreConfig{Bucket: ObjectAttach,
			Storage: jetstream.FileStorage, Replicas: r, TTL: s.o.Retention})
		cancel()
	}
	if err != nil {
		return fmt.Errorf("object store %s: %w", ObjectAttach, err)
	}
	return nil
}

// ensureStream creates the stream, or updates it where its settings
// differ; a stream that is as configured is used as it is. Updating it
// anyway is a proposal to the meta leader that, on a stream another
// receiver has just created and whose group has no leader yet, may never
// be answered: three nodes starting at once each lost the whole setup
// timeout per stream that way (cmd/edgecentral TestEmbeddedClusterKill).
func (s *Store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if str, st, err := s.existing(ctx, cfg.Name); err != nil {
		return nil, err
	} else if st != nil && st.Replicas == cfg.Replicas && st.MaxAge == cfg.MaxAge && st.MaxBytes == cfg.MaxBytes &&
		slices.Equal(st.Subjects, cfg.Subjects) && st.MaxMsgSize == cfg.MaxMsgSize {
		return str, nil
	}
	mctx, cancel := s.createCtx(ctx)
	defer cancel()
	return s.js.CreateOrUpdateStream(mctx, cfg)
}

// createCtx bounds one create or update: two receivers creating the same
// stream at once may leave one without an answer; it gives up soon and
// the retry of Open finds the stream made.
func (s *Store) createCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*s.o.OpTimeout)
}

// existing is the stream name and its configuration, nil if there is none.
func (s *Store) existing(ctx context.Context, name string) (jetstream.Stream, *jetstream.StreamConfig, error) {
	cctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	st, err := s.js.Stream(cctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cfg := st.CachedInfo().Config
	return st, &cfg, nil
}

// Close stops the store's goroutines (flushing the gateway counters). The
// caller closes the connection.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	s.flushStatsOnce(context.Background())
	return nil
}

// JetStream is the store's JetStream handle (consumers, the tail).
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Northbound runs the JSON-lines northbound projector (northbound.go) on
// this store's streams, with its replicas and retention, until ctx ends.
func (s *Store) Northbound(ctx context.Context, log *slog.Logger) error {
	return Northbound(ctx, s.js, s.o.Replicas, s.o.Retention, log)
}

// watchGateways keeps the gateway cache current: a gateway added, moved or
// disabled through another receiver is seen here within a moment.
func (s *Store) watchGateways() {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		w, err := s.gwKV.WatchAll(s.ctx, jetstream.UpdatesOnly())
		if err != nil {
			select {
			case <-s.ctx.Done():
				return
			case <-s.clk.After(time.Second):
				continue
			}
		}
		s.clearGateways() // what changed while there was no watch is read again
		s.drainGatewayUpdates(w)
		w.Stop()
	}
}

// drainGatewayUpdates forgets each updated gateway until the watcher ends
// or the store closes. The watcher's channel is not closed when s.ctx
// ends (nats.go only uses the context to create the consumer), so the
// loop selects on both: a bare range over Updates would keep Close
// waiting for ever.
func (s *Store) drainGatewayUpdates(w jetstream.KeyWatcher) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			id, err := GatewayFromToken(e.Key())
			if err != nil {
				continue
			}
			s.forgetGateway(id) // reloaded on next use
		}
	}
}

func (s *Store) gateway(ctx context.Context, id string) (receiver.Gateway, error) {
	s.gwMu.Lock()
	g, ok := s.gws[id]
	gen := s.gwGen
	s.gwMu.Unlock()
	if ok {
		if g.ID == "" {
			return g, fmt.Errorf("gateway %q: %w", id, receiver.ErrNotFound)
		}
		return g, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	e, err := s.gwKV.Get(cctx, GatewayToken(id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		g = receiver.Gateway{} // remembered as unknown until the watch says otherwise
	case err != nil:
		return g, fmt.Errorf("gateway %q: %w: %w", id, receiver.ErrUnavailable, err)
	default:
		if err := json.Unmarshal(e.Value(), &g); err != nil {
			return g, fmt.Errorf("gateway %q: %w", id, err)
		}
	}
	s.gwMu.Lock()
	if len(s.gws) > 100_000 {
		clear(s.gws)
	}
	if s.gwGen == gen { // else a gateway changed while this read was out: it may be stale
		s.gws[id] = g
	}
	s.gwMu.Unlock()
	if g.ID == "" {
		return g, fmt.Errorf("gateway %q: %w", id, receiver.ErrNotFound)
	}
	return g, nil
}

func (s *Store) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, 2*s.o.OpTimeout)
}

// AddGateway implements receiver.Storage.
func (s *Store) AddGateway(g receiver.Gateway) error {
	if !receiver.ValidGatewayID(g.ID) {
		return fmt.Errorf("gateway id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", g.ID)
	}
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	if _, err := s.gwKV.Create(ctx, GatewayToken(g.ID), v); errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("gateway %q: %w", g.ID, receiver.ErrExists)
	} else if err != nil {
		return fmt.Errorf("gateway %q: %w", g.ID, err)
	}
	s.forgetGateway(g.ID)
	return nil
}

// Gateway implements receiver.Storage.
func (s *Store) Gateway(id string) (receiver.Gateway, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	return s.gateway(ctx, id)
}

// allValues returns the latest value of every key of kv matching filter
// ("" all).
func allValues(ctx context.Context, kv jetstream.KeyValue, filter string) (map[string][]byte, error) {
	var w jetstream.KeyWatcher
	var err error
	if filter == "" {
		w, err = kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	} else {
		w, err = kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	}
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string][]byte{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return out, nil
			}
			out[e.Key()] = e.Value()
		}
	}
}

type statRec struct {
	Events      uint64    `json:"events"`
	LastBatchAt time.Time `json:"last_batch_at"`
}

type hbRecord struct {
	Heartbeat wire.Heartbeat `json:"heartbeat"`
	At        time.Time      `json:"at"`
}

// Gateways implements receiver.Storage.
func (s *Store) Gateways() ([]receiver.GatewayStatus, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	s.flushStatsOnce(ctx) // this receiver's counters, so that the list is current
	gws, err := allValues(ctx, s.gwKV, "")
	if err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	stats, err := allValues(ctx, s.stKV, "")
	if err != nil {
		return nil, fmt.Errorf("list gateway counters: %w", err)
	}
	hbs, err := allValues(ctx, s.hbKV, "")
	if err != nil {
		return nil, fmt.Errorf("list heartbeats: %w", err)
	}
	cfgs, err := allValues(ctx, s.cfgKV, "")
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	byGW := map[string]*receiver.GatewayStatus{}
	out := make([]receiver.GatewayStatus, 0, len(gws))
	for _, v := range gws {
		var g receiver.Gateway
		if json.Unmarshal(v, &g) != nil {
			continue
		}
		out = append(out, receiver.GatewayStatus{ID: g.ID, Place: g.Place, Created: g.Created, Disabled: g.Disabled})
	}
	for i := range out {
		byGW[GatewayToken(out[i].ID)] = &out[i]
	}
	for k, v := range stats {
		tok, _, _ := strings.Cut(k, ".")
		var st statRec
		if g := byGW[tok]; g != nil && json.Unmarshal(v, &st) == nil {
			g.Events += st.Events
			if st.LastBatchAt.After(g.LastBatchAt) {
				g.LastBatchAt = st.LastBatchAt
			}
		}
	}
	for k, v := range hbs {
		var hb hbRecord
		if g := byGW[k]; g != nil && json.Unmarshal(v, &hb) == nil {
			g.LastHeartbeat, g.HeartbeatAt = &hb.Heartbeat, hb.At
			g.ClockSkewMillis, g.SkewKnown = hb.Heartbeat.ClockSkewMillis, hb.Heartbeat.SkewKnown
		}
	}
	for k, v := range cfgs {
		var c wire.ConfigBundle
		if g := byGW[k]; g != nil && json.Unmarshal(v, &c) == nil {
			g.ConfigVersion = c.Version
		}
	}
	sortStatus(out)
	return out, nil
}

// noteStats records a (gateway, epoch)'s stored count; flushStats writes
// the counters to the stats bucket once a second, off the ingest path.
func (s *Store) noteStats(gw string, epoch uint64, count uint64, at time.Time) {
	k := GatewayToken(gw) + "." + strconv.FormatUint(epoch, 10)
	s.statMu.Lock()
	if cur := s.dirty[k]; cur.Events < count {
		s.dirty[k] = statRec{Events: count, LastBatchAt: at.UTC()}
	}
	s.statMu.Unlock()
}

func (s *Store) flushStats() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.clk.After(time.Second):
		}
		s.flushStatsOnce(s.ctx)
	}
}

func (s *Store) flushStatsOnce(ctx context.Context) {
	s.statMu.Lock()
	d := s.dirty
	s.dirty = map[string]statRec{}
	s.statMu.Unlock()
	for k, v := range d {
		b, _ := json.Marshal(v)
		cctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
		_, err := s.stKV.Put(cctx, k, b)
		cancel()
		if err != nil {
			s.log.Debug("gateway counter not written", "key", k, "error", err)
		}
	}
}

// alertKey is the alerts bucket's key of an alert.
func alertKey(gw, id string) string {
	return GatewayToken(gw) + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// updateAlerts applies the alert changes of chunk (stored now or before:
// a retry after a lost answer repairs what a crash left out) to the alerts
// bucket, keeping per alert the change with the highest (epoch, seq).
func (s *Store) updateAlerts(ctx context.Context, gw string, chunk []prepared) error {
	for i := range chunk {
		e := chunk[i].e
		if e.Alert == nil || e.Alert.ID == "" {
			continue
		}
		if err := s.updateAlert(ctx, gw, e); err != nil {
			return fmt.Errorf("%w: gateway %q alert %q: %v", receiver.ErrUnavailable, gw, e.Alert.ID, err)
		}
	}
	return nil
}

func (s *Store) updateAlert(ctx context.Context, gw string, e *wire.Event) error {
	k := alertKey(gw, e.Alert.ID)
	t := e.Time
	if !wire.TimeFitsJSON(t) {
		t = time.Time{}
	}
	v, err := json.Marshal(receiver.ActiveAlert{Gateway: gw, Epoch: e.Epoch, Seq: e.Seq, Time: t,
		Device: e.Device, Point: e.Point, Alert: *e.Alert})
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 8; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
		cur, err := s.alKV.Get(cctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.alKV.Create(cctx, k, v)
		case err != nil:
		default:
			var a receiver.ActiveAlert
			if json.Unmarshal(cur.Value(), &a) == nil && (a.Epoch > e.Epoch || (a.Epoch == e.Epoch && a.Seq >= e.Seq)) {
				cancel()
				return nil // this change or a later one is there
			}
			_, err = s.alKV.Update(cctx, k, v, cur.Revision())
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return errors.New("alert kept changing")
}

// ActiveAlerts implements receiver.Storage.
func (s *Store) ActiveAlerts(gw string) ([]receiver.ActiveAlert, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	filter := ""
	if gw != "" {
		filter = GatewayToken(gw) + ".>"
	}
	vals, err := allValues(ctx, s.alKV, filter)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	var out []receiver.ActiveAlert
	for _, v := range vals {
		var a receiver.ActiveAlert
		if json.Unmarshal(v, &a) == nil && a.Alert.State != wire.AlertResolved {
			out = append(out, a)
		}
	}
	sortAlerts(out)
	return out, nil
}

// PutHeartbeat implements receiver.Storage.
func (s *Store) PutHeartbeat(gw string, hb wire.Heartbeat, at time.Time) error {
	v, err := json.Marshal(hbRecord{Heartbeat: hb, At: at})
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	return wrapOp(s.hbKV.Put(ctx, GatewayToken(gw), v))
}

func wrapOp(_ uint64, err error) error {
	if err != nil && transient(err) {
		return fmt.Errorf("%w: %v", receiver.ErrUnavailable, err)
	}
	return err
}

// PutConfig implements receiver.Storage.
func (s *Store) PutConfig(gw string, b wire.ConfigBundle) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	return wrapOp(s.cfgKV.Put(ctx, GatewayToken(gw), v))
}

// Config implements receiver.Storage.
func (s *Store) Config(gw string) (wire.ConfigBundle, error) {
	var c wire.ConfigBundle
	ctx, cancel := s.opCtx()
	defer cancel()
	e, err := s.cfgKV.Get(ctx, GatewayToken(gw))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, receiver.ErrNotFound
	}
	if err != nil {
		return c, wrapOp(0, err)
	}
	return c, json.Unmarshal(e.Value(), &c)
}
