package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// A deletion plan is bounded so it fits in one transaction and never holds
// up appends for long: at most maxPlanEntries Badger entries (block
// deletions and rewrites, index deletions), and at most maxPlanRewrite raw
// bytes kept in rewritten blocks. A block that loses all its records is
// only deleted, so evicting whole blocks of readings is cheap.
const (
	maxPlanEntries = 1000
	maxPlanRewrite = 96 << 10
)

// planner builds one deletion plan: which records leave which blocks.
type planner struct {
	s       *Store
	plan    *delPlan
	drop    map[uint64][]bool // block key -> records to drop
	blocks  []*block          // touched blocks, in the order first touched
	rewrite int               // raw bytes the touched blocks keep
	entries int               // Badger entries of the plan so far
}

func (s *Store) newPlanner(evicted bool) *planner {
	return &planner{s: s, plan: &delPlan{evicted: evicted, result: make(chan error, 1)}, drop: map[uint64][]bool{}}
}

// full reports that the plan may take no more records. The first block is
// always allowed, whatever its size.
func (p *planner) full() bool {
	return p.entries >= maxPlanEntries || (len(p.blocks) > 0 && p.rewrite >= maxPlanRewrite)
}

// blockWith is Store.blockWith, preferring blocks this plan already holds.
func (p *planner) blockWith(txn *badger.Txn, seq uint64, prev *block) (*block, error) {
	for _, b := range p.blocks {
		if seq >= b.key && seq <= b.last() {
			return b, nil
		}
	}
	blk, err := p.s.blockWith(txn, seq, prev)
	if err == nil && blk == nil {
		err = fmt.Errorf("event %d: %w: no block holds it", seq, ErrCorrupt)
	}
	return blk, err
}

// remove takes record i of blk into the plan.
func (p *planner) remove(blk *block, i int) {
	d, ok := p.drop[blk.key]
	if !ok {
		d = make([]bool, len(blk.recs))
		p.drop[blk.key] = d
		p.blocks = append(p.blocks, blk)
		p.entries += 2 // its deletion and its rewrite
		for _, r := range blk.recs {
			p.rewrite += len(r) + 2
		}
	}
	if d[i] {
		return
	}
	d[i] = true
	rec := blk.recs[i]
	p.rewrite -= len(rec) + 2
	prio, _ := recordPriority(rec)
	if prio > edge.PriorityLow {
		p.plan.deletes = append(p.plan.deletes, prioKey(prio, blk.seqs[i]))
		p.entries++
	}
	p.plan.events++
	p.plan.bytes += recordCost(prio, len(rec))
}

// finish turns the dropped records into block deletions and rewrites: what
// a block keeps moves to the key of its first kept seq.
func (p *planner) finish() *delPlan {
	for _, blk := range p.blocks {
		d := p.drop[blk.key]
		var nb blockBuf
		for i, rec := range blk.recs {
			if !d[i] {
				nb.add(blk.seqs[i], rec)
			}
		}
		if nb.n == 0 || nb.first != blk.key {
			p.plan.deletes = append(p.plan.deletes, blockKey(blk.key))
		}
		if nb.n > 0 {
			p.plan.sets = append(p.plan.sets, kv{blockKey(nb.first), sealBlock(nb.raw)})
		}
	}
	return p.plan
}

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
	p := s.newPlanner(true)
	var from, to, folded uint64
	take := func(blk *block, i int) {
		seq := blk.seqs[i]
		p.remove(blk, i)
		if from == 0 || seq < from {
			from = seq
		}
		to = max(to, seq)
	}
	full := func() bool { return p.plan.bytes >= need || p.full() }
	err := s.db.View(func(txn *badger.Txn) error {
		// Readings: not indexed, so scan the blocks in seq order.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})
		for it.Seek(blockKey(s.first.Load())); it.Valid() && !full(); it.Next() {
			if blockKeySeq(it.Item().Key()) > last {
				break
			}
			blk, err := s.loadBlock(it.Item())
			if err != nil {
				it.Close()
				return err
			}
			for i := 0; i < len(blk.recs) && blk.seqs[i] <= last && !full(); i++ {
				if prio, _ := recordPriority(blk.recs[i]); prio == edge.PriorityLow {
					take(blk, i)
				}
			}
		}
		it.Close()
		// Higher priorities from their index, lowest first; a priority is
		// only touched once every lower one is gone.
		for prio := edge.PriorityLow + 1; prio <= edge.PriorityAlert && !full() && p.plan.events == 0; prio++ {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxPrio, byte(prio)}})
			var blk *block
			for it.Rewind(); it.Valid() && !full(); it.Next() {
				seq := binary.BigEndian.Uint64(it.Item().Key()[2:])
				if seq > last {
					break
				}
				var err error
				if blk, err = p.blockWith(txn, seq, blk); err != nil {
					it.Close()
					return err
				}
				i := blk.find(seq)
				if i >= len(blk.seqs) || blk.seqs[i] != seq {
					it.Close()
					return fmt.Errorf("evict %d: %w: indexed but not in its block", seq, ErrCorrupt)
				}
				take(blk, i)
				if prio == edge.PriorityAlert {
					// An evicted gap record folds into the new one, so the
					// gap records left always account for every missing seq.
					ev, err := Decode(blk.recs[i])
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
	if err != nil || p.plan.events == 0 {
		return 0, err
	}
	plan := p.finish()
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
		more, err := s.retainPass(now)
		if err != nil || !more {
			return err
		}
	}
}

// retainPass deletes one plan's worth; more reports that it stopped on the
// plan's bounds, not because it found the end of what may go.
func (s *Store) retainPass(now time.Time) (more bool, err error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	curs, err := s.cursors()
	if err != nil || len(curs) == 0 {
		s.leave()
		return false, err
	}
	passed := ^uint64(0)
	for _, c := range curs {
		passed = min(passed, c)
	}
	last := s.durable.Load()
	cutoff := now.Add(-s.opts.History)
	p := s.newPlanner(false)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})
		defer it.Close()
		for it.Seek(blockKey(s.first.Load())); it.Valid(); it.Next() {
			blk, err := s.loadBlock(it.Item())
			if err != nil {
				return err
			}
			for i, seq := range blk.seqs {
				if seq >= passed || seq > last {
					return nil
				}
				if t := recordTime(blk.recs[i]); !t.IsZero() && t.After(cutoff) {
					return nil // seq order is close to time order: the rest is younger
				}
				if p.full() {
					more = true
					return nil
				}
				p.remove(blk, i)
			}
		}
		return nil
	})
	s.leave()
	if err != nil || p.plan.events == 0 {
		return false, err
	}
	plan := p.finish()
	if err := s.runPlan(&req{del: plan}); err != nil {
		return false, err
	}
	s.log.Debug("retention deleted events", "count", plan.events)
	return more, nil
}

// valueLogGC rewrites value-log files until Badger finds none worth it.
// Event blocks stay in the LSM tree (ValueThreshold), so this mostly
// finds nothing; it matters for large state values.
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
