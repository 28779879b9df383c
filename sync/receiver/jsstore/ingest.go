package jsstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// Exactly-once without a time window: every message of a (gateway, epoch)
// subject carries the cumulative set of seqs stored for it, and a writer
// publishes only on top of the message whose set it read
// (Nats-Expected-Last-Subject-Sequence). A retried batch finds its events in
// the set and stores nothing; two receivers with the same or overlapping
// batches serialize on the subject; a write whose outcome is unknown
// (timeout, leader change, 10164 "in flight") is decided by re-reading the
// subject from the stream leader. See docs/central.md.

// subjState is what a writer knows of a subject: the stream sequence of its
// last message and the set that message carries.
type subjState struct {
	seq uint64
	set *receiver.SeqSet
}

const maxCachedStates = 8192

// keyLocks serializes this process's writers of one subject (the others'
// are serialized by the compare-and-set).
type keyLocks struct {
	mu gosync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   gosync.Mutex
	refs int
}

func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

type prepared struct {
	e   *wire.Event
	rec []byte
}

// StoreBatch implements receiver.Storage. It returns once every event is
// in a message the stream acknowledged (R1 sync always: fsynced; R3:
// committed by two of three nodes), or ErrUnavailable within
// Options.BatchTimeout when it cannot tell.
func (s *Store) StoreBatch(gw string, events []wire.Event, received time.Time) (stored, dups int, err error) {
	start := s.clk.Now()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.BatchTimeout)
	defer cancel()
	g, err := s.gateway(ctx, gw)
	if err != nil {
		return 0, 0, err
	}
	byEpoch, epochs, err := prepare(gw, events)
	if err != nil {
		return 0, 0, err
	}
	for _, ep := range epochs {
		evs := byEpoch[ep]
		subj := Subject(g.Place, gw, ep)
		unlock := s.locks.lock(subj)
		for len(evs) > 0 {
			n, size := 0, 0
			for n < len(evs) && n < s.o.ChunkEvents && (n == 0 || size+len(evs[n].rec) <= s.o.ChunkBytes) {
				size += len(evs[n].rec) + 4
				n++
			}
			st, d, err := s.storeChunk(ctx, g, subj, ep, evs[:n], received)
			stored, dups = stored+st, dups+d
			if err != nil {
				unlock()
				s.m.unavailable.Add(1)
				return 0, 0, err
			}
			evs = evs[n:]
		}
		unlock()
	}
	s.m.batches.Add(1)
	s.m.stored.Add(uint64(stored))
	s.m.dups.Add(uint64(dups))
	s.m.observe(s.clk.Now().Sub(start))
	return stored, dups, nil
}

// prepare encodes every record first (an event too large refuses the batch
// before anything is written), grouped by epoch in the order of events.
// The records share one buffer: one allocation per batch, not per event.
func prepare(gw string, events []wire.Event) (byEpoch map[uint64][]prepared, epochs []uint64, err error) {
	arena := make([]byte, 0, 64*len(events))
	ends := make([]int, len(events))
	for i := range events {
		e := &events[i]
		if n := receiver.EventSize(e); n > maxEventBytes {
			return nil, nil, fmt.Errorf("%w: event %d/%d is about %d bytes, the limit is %d",
				receiver.ErrEventTooLarge, e.Epoch, e.Seq, n, maxEventBytes)
		}
		if arena, err = receiver.AppendRecord(arena, e); err != nil {
			return nil, nil, fmt.Errorf("gateway %q: event %d/%d: %w", gw, e.Epoch, e.Seq, err)
		}
		ends[i] = len(arena)
	}
	byEpoch = map[uint64][]prepared{}
	all := make([]prepared, len(events))
	for i := range events {
		e := &events[i]
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		all[i] = prepared{e, arena[start:ends[i]:ends[i]]}
		if _, ok := byEpoch[e.Epoch]; !ok {
			epochs = append(epochs, e.Epoch)
			byEpoch[e.Epoch] = nil
		}
	}
	if len(epochs) == 1 { // the usual batch: one epoch, no copy
		byEpoch[epochs[0]] = all
		return byEpoch, epochs, nil
	}
	for i := range all {
		byEpoch[all[i].e.Epoch] = append(byEpoch[all[i].e.Epoch], all[i])
	}
	return byEpoch, epochs, nil
}

// chunkBody returns the block records of chunk's events not in set, adding
// them to set; first and last are the lowest and highest seq added.
func chunkBody(chunk []prepared, set *receiver.SeqSet) (body []byte, n, dups, alerts int, first, last uint64) {
	size := 0
	for i := range chunk {
		size += len(chunk[i].rec) + binary.MaxVarintLen32
	}
	body = make([]byte, 0, size)
	for i := range chunk {
		seq := chunk[i].e.Seq
		if set.Has(seq) {
			dups++
			continue
		}
		set.Add(seq)
		body = receiver.AppendBlockRecord(body, chunk[i].rec)
		if n == 0 || seq < first {
			first = seq
		}
		last = max(last, seq)
		if chunk[i].e.Alert != nil {
			alerts++
		}
		n++
	}
	return body, n, dups, alerts, first, last
}

// storeChunk stores the events of chunk not in the subject's set, on top of
// the subject's last message, retrying until ctx ends.
func (s *Store) storeChunk(ctx context.Context, g receiver.Gateway, subj string, epoch uint64, chunk []prepared, received time.Time) (stored, dups int, err error) {
	leader := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.m.retries.Add(1)
			d := time.Duration(5<<min(attempt, 7)) * time.Millisecond
			d = d/2 + rand.N(d/2+1)
			select {
			case <-ctx.Done():
				return 0, 0, s.unavailable(subj, ctx.Err())
			case <-s.clk.After(d):
			}
		}
		st, err := s.lastState(ctx, subj, leader)
		if err != nil {
			if ctx.Err() != nil || transient(err) {
				leader = true
				if ctx.Err() != nil {
					return 0, 0, s.unavailable(subj, err)
				}
				continue
			}
			return 0, 0, fmt.Errorf("gateway %q: read %s: %w", g.ID, subj, err)
		}
		set := st.set.Clone()
		body, n, d, alerts, first, last := chunkBody(chunk, set)
		dups = d
		if n == 0 { // a retry or a concurrent twin stored all of it
			return 0, dups, s.updateAlerts(ctx, g.ID, chunk)
		}
		if set.Ranges() > maxRanges {
			return 0, 0, fmt.Errorf("%w: gateway %q epoch %d: the stored set would hold %d ranges (limit %d): send the gaps first",
				receiver.ErrEventTooLarge, g.ID, epoch, set.Ranges(), maxRanges)
		}
		m := nats.NewMsg(subj)
		m.Header.Set(HeaderGateway, g.ID)
		m.Header.Set(HeaderEpoch, strconv.FormatUint(epoch, 10))
		m.Header.Set(HeaderPath, pathOf(g.Place))
		m.Header.Set(HeaderFirstSeq, strconv.FormatUint(first, 10))
		m.Header.Set(HeaderLastSeq, strconv.FormatUint(last, 10))
		m.Header.Set(HeaderCount, strconv.Itoa(n))
		m.Header.Set(HeaderStoredCount, strconv.FormatUint(set.Count(), 10))
		m.Header.Set(HeaderAlerts, strconv.Itoa(alerts))
		m.Data = encodeBody(set, receiver.AppendBlock(nil, n, g.ID, received, body))
		pctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
		ack, err := s.js.PublishMsg(pctx, m, jetstream.WithExpectLastSequencePerSubject(st.seq))
		cancel()
		if s.afterPublish != nil {
			s.afterPublish(subj, err)
		}
		switch {
		case err == nil:
			s.putState(subj, subjState{ack.Sequence, set})
			s.noteStats(g.ID, epoch, set.Count(), received)
			return n, dups, s.updateAlerts(ctx, g.ID, chunk)
		case conflict(err):
			s.m.conflicts.Add(1)
			s.dropState(subj)
			leader = true // another writer won, or is in flight: ask the leader
		case transient(err):
			s.dropState(subj)
			leader = true // the outcome is unknown: the re-read decides
		default:
			s.dropState(subj)
			return 0, 0, fmt.Errorf("gateway %q: publish %s: %w", g.ID, subj, err)
		}
		if ctx.Err() != nil {
			return 0, 0, s.unavailable(subj, err)
		}
	}
}

func pathOf(place string) string {
	if place == "" {
		p, _ := receiver.FullPlace("")
		return strings.Join(p, "/")
	}
	return place
}

func (s *Store) unavailable(subj string, err error) error {
	return fmt.Errorf("%w: %s: no answer from JetStream within %s: %v", receiver.ErrUnavailable, subj, s.o.BatchTimeout, err)
}

// conflict: the expected last sequence did not match (10071), or another
// message on the subject is in flight (10164, R>1): re-read and retry.
func conflict(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// transient: no answer, or JetStream says it cannot answer now; the
// outcome of a publish is unknown.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return true
	}
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.Code == 503 || ae.Code == 408 || ae.ErrorCode == 10008)
}

func (s *Store) putState(subj string, st subjState) {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	if len(s.states) >= maxCachedStates {
		n := 0
		for k := range s.states { // drop an arbitrary half
			delete(s.states, k)
			if n++; n >= maxCachedStates/2 {
				break
			}
		}
	}
	s.states[subj] = st
}

func (s *Store) dropState(subj string) {
	s.stMu.Lock()
	delete(s.states, subj)
	s.stMu.Unlock()
}

// lastState returns the subject's last message's sequence and set: from
// this process's cache, else a direct get (any replica: it may be stale,
// which only makes the compare-and-set fail), or with leader from the
// stream leader (decides what is stored).
func (s *Store) lastState(ctx context.Context, subj string, leader bool) (subjState, error) {
	if !leader {
		s.stMu.Lock()
		st, ok := s.states[subj]
		s.stMu.Unlock()
		if ok {
			return st, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	var seq uint64
	var data []byte
	if leader {
		req, _ := json.Marshal(map[string]string{"last_by_subj": subj})
		resp, err := s.nc.RequestWithContext(cctx, "$JS.API.STREAM.MSG.GET."+StreamEvents, req)
		if err != nil {
			return subjState{}, err
		}
		var r struct {
			Error *jetstream.APIError `json:"error"`
			Msg   *struct {
				Seq  uint64 `json:"seq"`
				Data []byte `json:"data"`
			} `json:"message"`
		}
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			return subjState{}, fmt.Errorf("stream leader answer: %w", err)
		}
		switch {
		case r.Error != nil && r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
			return subjState{set: &receiver.SeqSet{}}, nil
		case r.Error != nil:
			return subjState{}, r.Error
		case r.Msg == nil:
			return subjState{}, errors.New("stream leader answer: no message")
		}
		seq, data = r.Msg.Seq, r.Msg.Data
	} else {
		m, err := s.ev.GetLastMsgForSubject(cctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return subjState{set: &receiver.SeqSet{}}, nil
		}
		if err != nil {
			return subjState{}, err
		}
		seq, data = m.Sequence, m.Data
	}
	set, err := decodeSet(data)
	if err != nil {
		return subjState{}, fmt.Errorf("%s message %d: %w", subj, seq, err)
	}
	st := subjState{seq, set}
	s.putState(subj, st)
	return st, nil
}
