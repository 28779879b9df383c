package store

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// maxPlanEvents bounds one deletion plan, so it fits in one transaction and
// never holds up appends for long.
const maxPlanEvents = 1000

// GapReasonCap is the reason of the gap records left by cap eviction.
const GapReasonCap = "evicted: store cap"

// maintain runs retention, cap eviction and value-log GC until Close. It
// only plans deletions (reads); the writer commits them between appends.
// maintMu keeps plans from overlapping, so nothing is deleted twice.
func (s *Store) maintain() {
	defer s.wg.Done()
	gc := time.NewTicker(s.opts.GCInterval)
	defer gc.Stop()
	capTick := time.NewTicker(time.Second)
	defer capTick.Stop()
	s.enforceCap() // the cap may have been lowered since the last run
	for {
		select {
		case <-s.stop:
			return
		case <-s.capSignal:
			s.enforceCap()
		case <-capTick.C:
			s.enforceCap()
		case <-gc.C:
			if err := s.retain(time.Now()); err != nil && !errors.Is(err, edge.ErrClosed) {
				s.log.Warn("retention failed", "err", err)
			}
			s.enforceCap()
			s.valueLogGC()
		}
	}
}

func (s *Store) live() int64 {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return s.pub.Live
}

// enforceCap evicts until the live bytes are under the cap; each pass aims
// at 90% of it, so passes are few and large.
func (s *Store) enforceCap() {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	capb := s.opts.CapBytes
	if capb <= 0 {
		return
	}
	target := capb - capb/10
	for s.live() > capb {
		need := s.live() - target
		n, err := s.evict(need)
		if err != nil {
			if !errors.Is(err, edge.ErrClosed) {
				s.log.Error("eviction failed", "err", err)
			}
			return
		}
		if n == 0 {
			return
		}
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// evict plans and commits one eviction pass: the oldest events of the
// lowest priority present, up to need bytes, with one gap record whose
// Count is exactly the number of events this pass removed. It returns how
// many events it evicted.
func (s *Store) evict(need int64) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	last := s.durable.Load()
	plan := &delPlan{evicted: true, result: make(chan error, 1)}
	var from, to, folded uint64
	take := func(seq uint64, prio edge.Priority, recLen int) {
		plan.keys = append(plan.keys, eventKey(seq))
		if prio > edge.PriorityLow {
			plan.keys = append(plan.keys, prioKey(prio, seq))
		}
		plan.events++
		plan.bytes += recordCost(prio, recLen)
		if from == 0 || seq < from {
			from = seq
		}
		if seq > to {
			to = seq
		}
	}
	full := func() bool { return plan.bytes >= need || plan.events >= maxPlanEvents }
	err := s.db.View(func(txn *badger.Txn) error {
		// Readings: not indexed, so scan events in seq order.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxEvent}, PrefetchValues: true, PrefetchSize: 256})
		for it.Seek(eventKey(s.first.Load())); it.Valid() && !full(); it.Next() {
			item := it.Item()
			seq := binary.BigEndian.Uint64(item.Key()[1:])
			if seq > last {
				break
			}
			var prio edge.Priority
			var n int
			if err := item.Value(func(v []byte) error {
				prio, _ = recordPriority(v)
				n = len(v)
				return nil
			}); err != nil {
				it.Close()
				return err
			}
			if prio == edge.PriorityLow {
				take(seq, prio, n)
			}
		}
		it.Close()
		// Higher priorities from their index, lowest first; a priority is
		// only touched once every lower one is gone.
		for p := edge.PriorityLow + 1; p <= edge.PriorityAlert && !full() && plan.events == 0; p++ {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxPrio, byte(p)}})
			for it.Rewind(); it.Valid() && !full(); it.Next() {
				seq := binary.BigEndian.Uint64(it.Item().Key()[2:])
				if seq > last {
					break
				}
				item, err := txn.Get(eventKey(seq))
				if err != nil {
					it.Close()
					return err
				}
				take(seq, p, int(item.ValueSize()))
				if p == edge.PriorityAlert {
					// An evicted gap record folds into the new one, so the
					// gap records left always account for every missing seq.
					ev, err := s.decodeItem(item, seq)
					if err == nil && ev.Kind == edge.KindGap && ev.Gap != nil {
						folded += ev.Gap.Count
						from, to = min(from, ev.Gap.From), max(to, ev.Gap.To)
					}
				}
			}
			it.Close()
		}
		return nil
	})
	s.leave()
	if err != nil || plan.events == 0 {
		return 0, err
	}
	// The gap record is appended in the same transaction as the deletion.
	gap := s.prepare(edge.Event{
		Kind: edge.KindGap,
		Text: GapReasonCap,
		Gap:  &edge.Gap{Epoch: s.epoch, From: from, To: to, Count: plan.events + folded, Reason: GapReasonCap},
	})
	gap.del = plan
	if err := s.runPlan(gap); err != nil {
		return 0, err
	}
	s.log.Warn("store cap reached: events evicted", "from", from, "to", to, "count", plan.events,
		"bytes", plan.bytes, "cap_bytes", s.opts.CapBytes)
	return plan.events, nil
}

func (s *Store) runPlan(r *req) error {
	select {
	case s.delq <- r:
	case <-s.stop:
		return edge.ErrClosed
	}
	select {
	case err := <-r.del.result:
		if err != nil {
			return err
		}
	case <-s.stop:
		// The writer drains the queue before it exits; it may or may not
		// have taken this plan. Either way the next open sees a consistent
		// store: the plan commits whole or not at all.
		return edge.ErrClosed
	}
	return s.refreshFirst(s.first.Load())
}

// retain deletes events that every cursor has passed and that are older
// than History. With no cursor at all nothing has been consumed, so nothing
// is deleted (only the cap removes events then).
func (s *Store) retain(now time.Time) error {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	for {
		n, err := s.retainPass(now)
		if err != nil || n < maxPlanEvents {
			return err
		}
	}
}

func (s *Store) retainPass(now time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	curs, err := s.cursors()
	if err != nil || len(curs) == 0 {
		s.leave()
		return 0, err
	}
	passed := ^uint64(0)
	for _, c := range curs {
		passed = min(passed, c)
	}
	last := s.durable.Load()
	cutoff := now.Add(-s.opts.History)
	plan := &delPlan{result: make(chan error, 1)}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxEvent}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Seek(eventKey(s.first.Load())); it.Valid() && plan.events < maxPlanEvents; it.Next() {
			item := it.Item()
			seq := binary.BigEndian.Uint64(item.Key()[1:])
			if seq >= passed || seq > last {
				return nil
			}
			stop := false
			if err := item.Value(func(v []byte) error {
				if t := recordTime(v); !t.IsZero() && t.After(cutoff) {
					stop = true // seq order is close to time order: the rest is younger
					return nil
				}
				prio, _ := recordPriority(v)
				plan.keys = append(plan.keys, eventKey(seq))
				if prio > edge.PriorityLow {
					plan.keys = append(plan.keys, prioKey(prio, seq))
				}
				plan.events++
				plan.bytes += recordCost(prio, len(v))
				return nil
			}); err != nil {
				return err
			}
			if stop {
				return nil
			}
		}
		return nil
	})
	s.leave()
	if err != nil || plan.events == 0 {
		return 0, err
	}
	if err := s.runPlan(&req{del: plan}); err != nil {
		return 0, err
	}
	s.log.Debug("retention deleted events", "count", plan.events)
	return int(plan.events), nil
}

// valueLogGC rewrites value-log files until Badger finds none worth it.
// Events stay in the LSM tree (ValueThreshold), so this mostly finds
// nothing; it matters for large state values.
func (s *Store) valueLogGC() {
	if err := s.enter(); err != nil {
		return
	}
	defer s.leave()
	for i := 0; i < 16; i++ {
		if err := s.db.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc failed", "err", err)
			}
			return
		}
	}
}
