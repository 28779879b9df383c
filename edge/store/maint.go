package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// Events leave the store by drops: the oldest blocks of one or more
// priority streams go at once, as key prefixes Badger removes by deleting
// whole tables (keys.go). A drop is planned (planStream), recorded
// (keyDrop), done (Badger's DropPrefix, with the writer paused), checked,
// and its outcome committed by the writer in one transaction: the counters
// and, for an eviction, the gap record that says what went. A crash between
// the record and the outcome is finished at the next open (resumeDrop), so
// no eviction is ever left without its gap record.

// dropPlan is one drop: for each priority p, every block of p with a first
// seq in [from[p], upto[p]) (upto a multiple of dropUnit) by key prefix,
// and the blocks listed in tail[p], all at or after upto[p], one by one in
// the outcome's transaction. The tail is the end of a stream: a drop unit
// that new blocks may still join once the drop is done, so a prefix there
// could take them too when a crash makes the drop run again.
type dropPlan struct {
	from    [numPrio]uint64
	upto    [numPrio]uint64
	tail    [numPrio][]uint64
	events  uint64
	bytes   int64
	evicted bool // evicted (gap record) rather than deleted past history
	forDisk bool // evicted to keep the disk reserve
	gapFrom uint64
	gapTo   uint64
	folded  uint64 // events that evicted gap records accounted for
	result  chan error
}

// end is the first seq after everything d drops of priority p.
func (d *dropPlan) end(p int) uint64 {
	e := d.upto[p]
	if t := d.tail[p]; len(t) > 0 {
		e = max(e, t[len(t)-1]+1)
	}
	return e
}

func (d *dropPlan) empty() bool { return d.events == 0 }

func (d *dropPlan) prefixes(has func(p edge.Priority, bucket uint64) bool) [][]byte {
	var out [][]byte
	for p := range numPrio {
		if d.upto[p] > d.from[p] {
			pp := edge.Priority(p)
			out = append(out, dropPrefixes(pp, d.from[p], d.upto[p], func(b uint64) bool { return has == nil || has(pp, b) })...)
		}
	}
	return out
}

const dropV1 = 1

func (d *dropPlan) encode() []byte {
	b := []byte{dropV1, 0}
	if d.evicted {
		b[1] |= 1
	}
	if d.forDisk {
		b[1] |= 2
	}
	for p := range numPrio {
		b = binary.AppendUvarint(b, d.from[p])
		b = binary.AppendUvarint(b, d.upto[p])
		b = binary.AppendUvarint(b, uint64(len(d.tail[p])))
		for _, k := range d.tail[p] {
			b = binary.AppendUvarint(b, k)
		}
	}
	b = binary.AppendUvarint(b, d.events)
	b = binary.AppendUvarint(b, uint64(d.bytes))
	b = binary.AppendUvarint(b, d.gapFrom)
	b = binary.AppendUvarint(b, d.gapTo)
	return binary.AppendUvarint(b, d.folded)
}

func decodeDrop(b []byte) (*dropPlan, error) {
	if len(b) < 2 || b[0] != dropV1 {
		return nil, errors.New("bad drop record")
	}
	d := &dropPlan{evicted: b[1]&1 != 0, forDisk: b[1]&2 != 0}
	dec := &decoder{b: b[2:]}
	for p := range numPrio {
		d.from[p], d.upto[p] = dec.uvarint(), dec.uvarint()
		n := dec.uvarint()
		for i := uint64(0); i < n && dec.err == nil; i++ {
			d.tail[p] = append(d.tail[p], dec.uvarint())
		}
	}
	d.events, d.bytes = dec.uvarint(), int64(dec.uvarint())
	d.gapFrom, d.gapTo, d.folded = dec.uvarint(), dec.uvarint(), dec.uvarint()
	return d, dec.err
}

// gapEvent is the gap record of an eviction.
func (d *dropPlan) gapEvent(epoch uint64) edge.Event {
	return edge.Event{
		Kind: edge.KindGap,
		Text: GapReasonCap,
		Gap:  &edge.Gap{Epoch: epoch, From: d.gapFrom, To: d.gapTo, Count: d.events + d.folded, Reason: GapReasonCap},
	}
}

// GapReasonCap is the reason of the gap records left by eviction (the cap
// or the disk reserve).
const GapReasonCap = "evicted: store cap"

func alignDown(x uint64) uint64 { return x &^ (dropUnit - 1) }
func alignUp(x uint64) uint64   { return alignDown(x + dropUnit - 1) }

// planStream adds to d the oldest blocks of priority p that may go (may
// says so, given a block's first seq and header), until target bytes
// (0: no target), then as far as the next drop boundary. last is the
// durable seq; the caller holds dropMu, so no block newer than last
// appears until the drop is done.
func (s *Store) planStream(txn *badger.Txn, d *dropPlan, p edge.Priority, last uint64, target int64,
	may func(key uint64, h blockHead) bool) error {
	type sel struct {
		key, last, count uint64
		bytes            int64
	}
	var blocks []sel
	var acc int64
	var next uint64 // first block that stays; 0: none found
	var bound uint64
	st := newStream(txn, p, last)
	defer st.close()
	for st.seek(0); st.valid; st.next() {
		if bound > 0 && st.key >= bound {
			next = st.key
			break
		}
		h, size, err := st.head()
		if err != nil {
			return err
		}
		if !may(st.key, h) {
			next = st.key
			break
		}
		blocks = append(blocks, sel{st.key, h.last(st.key), h.count, liveCost(10, size)})
		acc += liveCost(10, size)
		if target > 0 && acc >= target && bound == 0 {
			// Enough: take the rest of this drop unit too, or the
			// boundary could cut everything taken.
			bound = alignUp(st.key + 1)
		}
	}
	// Whole drop units go by prefix. At the stream's end the last,
	// partial unit goes block by block (tail); elsewhere a partial unit
	// waits: deleting old keys one by one makes Badger rewrite everything
	// between them and the new data to reclaim them.
	upto := alignDown(last + 1)
	if next > 0 {
		upto = alignDown(next)
	}
	var tail []uint64
	if next == 0 {
		for _, b := range blocks {
			if b.key >= upto {
				tail = append(tail, b.key)
			}
		}
	}
	if len(blocks) == 0 || (upto <= blocks[0].key && len(tail) == 0) {
		return nil
	}
	d.from[p], d.upto[p], d.tail[p] = blocks[0].key, max(upto, blocks[0].key), tail
	for _, b := range blocks {
		if b.key >= upto && next > 0 {
			break
		}
		d.events += b.count
		d.bytes += b.bytes
		if d.gapFrom == 0 || b.key < d.gapFrom {
			d.gapFrom = b.key
		}
		d.gapTo = max(d.gapTo, b.last)
	}
	if d.evicted && p == edge.PriorityAlert {
		return s.foldGaps(txn, d, last)
	}
	return nil
}

// foldGaps folds the gap records among the alert blocks d drops into d's
// own, so the gap records left always account for every missing seq.
func (s *Store) foldGaps(txn *badger.Txn, d *dropPlan, last uint64) error {
	p := edge.PriorityAlert
	st := newStream(txn, p, last)
	defer st.close()
	for st.seek(d.from[p]); st.valid && st.key < d.end(int(p)); st.next() {
		blk, err := s.loadBlock(p, st.key, st.item)
		if err != nil {
			return err
		}
		for _, rec := range blk.recs {
			ev, err := Decode(rec)
			if err == nil && ev.Kind == edge.KindGap && ev.Gap != nil {
				d.folded += ev.Gap.Count
				d.gapFrom, d.gapTo = min(d.gapFrom, ev.Gap.From), max(d.gapTo, ev.Gap.To)
			}
		}
	}
	return nil
}

// drop plans a drop with plan (nil: d is already planned), does it, and
// has the writer commit its outcome.
func (s *Store) drop(d *dropPlan, plan func(txn *badger.Txn, last uint64) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	err := s.doDrop(d, plan)
	s.leave()
	if err != nil || d.empty() {
		return err
	}
	return s.commitDrop(d)
}

// doDrop plans d (unless plan is nil), records it, drops its blocks and
// checks that they are gone, all with the writer paused (dropMu). The
// caller holds closeMu for reading.
func (s *Store) doDrop(d *dropPlan, plan func(txn *badger.Txn, last uint64) error) error {
	// The drop makes a memtable and tables: with less room than a write
	// needs, only the ballast can give it (onNoSpace).
	if !s.disk.writable() && s.disk.ballastBytes() == 0 {
		return s.disk.errFull()
	}
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	last := s.durable.Load()
	if plan != nil {
		if err := s.db.View(func(txn *badger.Txn) error { return plan(txn, last) }); err != nil {
			return err
		}
	}
	if d.empty() {
		return nil
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyDrop, d.encode()) }); err != nil {
		return fmt.Errorf("record drop: %w", err)
	}
	err := s.db.DropPrefix(d.prefixes(s.buckets.has)...)
	s.forgetSize()
	s.disk.read(0)
	if err != nil {
		return fmt.Errorf("drop %d events: %w", d.events, err)
	}
	return s.db.View(func(txn *badger.Txn) error {
		for p := range numPrio {
			if d.upto[p] == 0 {
				continue
			}
			st := newStream(txn, edge.Priority(p), last)
			k, ok := st.firstKey()
			st.close()
			if ok && k < d.upto[p] {
				return fmt.Errorf("drop %d events: block %d of priority %d is still there", d.events, k, p)
			}
		}
		return nil
	})
}

// commitDrop has the writer commit d's outcome (its gap record, the
// counters, the end of its record), then updates what is kept in memory.
func (s *Store) commitDrop(d *dropPlan) error {
	d.result = make(chan error, 1)
	r := &req{drop: d}
	if d.evicted {
		r = s.prepare(d.gapEvent(s.epoch))
		r.drop = d
	}
	select {
	case s.delq <- r:
	case <-s.stop:
		return edge.ErrClosed
	}
	select {
	case err := <-d.result:
		if err != nil {
			return err
		}
	case <-s.stop:
		// The writer drains the queue before it exits; it may or may not
		// have taken this outcome. Either way the next open finishes the
		// drop from its record.
		return edge.ErrClosed
	}
	s.dropped(d)
	return nil
}

// dropped updates the in-memory figures after d's outcome is committed.
func (s *Store) dropped(d *dropPlan) {
	if err := s.enter(); err != nil {
		return
	}
	defer s.leave()
	err := s.db.View(func(txn *badger.Txn) error {
		for p := range numPrio {
			end := d.end(p)
			if end <= d.from[p] {
				continue
			}
			s.buckets.drop(edge.Priority(p), end)
			for _, b := range []uint64{d.upto[p] >> bucketBits, (end - 1) >> bucketBits} {
				if err := s.recountBucket(txn, edge.Priority(p), b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = s.refreshFirst()
	}
	if err != nil {
		s.log.Warn("recount after a drop", "err", err)
	}
}

// resumeDrop finishes a drop that a crash interrupted (at open, before the
// writer runs): it drops again (nothing happens for what is gone) and
// commits the outcome.
func (s *Store) resumeDrop() error {
	var d *dropPlan
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyDrop)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			d, err = decodeDrop(v)
			return err
		})
	})
	if err != nil || d == nil {
		return err
	}
	s.log.Warn("finishing a drop interrupted by a crash", "events", d.events, "evicted", d.evicted)
	if err := s.db.DropPrefix(d.prefixes(nil)...); err != nil {
		return err
	}
	b := &batch{s: s, c: s.w, gen: s.gen}
	r := &req{drop: d}
	if d.evicted {
		r = s.prepare(d.gapEvent(s.epoch))
		r.drop = d
	}
	b.add(r)
	for p := range b.open {
		b.seal(edge.Priority(p))
	}
	if err := s.writeTxn(b); err != nil {
		return err
	}
	s.w = b.c
	return nil
}

// maintain runs the cap, the disk reserve, retention and value-log GC
// until Close. It plans drops (reads) and does them; the writer commits
// their outcomes between appends. maintMu keeps drops from overlapping, so
// nothing is counted twice.
func (s *Store) maintain() {
	defer s.wg.Done()
	s.enforce() // the cap may have been lowered since the last run
	tick := s.clock.After(time.Second)
	nextGC := s.clock.Now().Add(s.opts.GCInterval)
	for {
		select {
		case <-s.stop:
			return
		case <-s.capSignal:
			s.enforce()
		case <-tick:
			s.pageKick()
			s.enforce()
			if now := s.clock.Now(); !now.Before(nextGC) {
				nextGC = now.Add(s.opts.GCInterval)
				if err := s.retain(now); err != nil && !errors.Is(err, edge.ErrClosed) {
					s.log.Warn("retention failed", "err", err)
				}
				s.valueLogGC()
			}
			// Armed after the work, so a test that sees the store wait on
			// its clock again knows the pass is done.
			tick = s.clock.After(time.Second)
		}
	}
}

func (s *Store) live() int64 {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return s.pub.Live
}

// enforce keeps the cap and the disk reserve, and decides whether appends
// are refused for a full disk.
func (s *Store) enforce() {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	if s.shut.Load() {
		return
	}
	if s.readOnly.Load() {
		s.reopen()
		return
	}
	// A drop whose outcome is not committed must finish before another
	// starts: there is one drop record.
	if err := s.resumePending(); err != nil {
		if !errors.Is(err, edge.ErrClosed) {
			s.throttle.Warn("drop", "drop failed", "err", err)
		}
		s.setFull(s.disk.read(0))
		return
	}
	// The cap: evict down to 90% of it.
	if c := s.opts.CapBytes; c > 0 && s.live()+fixedBytes > c {
		s.evict(s.live()+fixedBytes-c*9/10, false)
	}
	// The reserve: what was consumed by every cursor goes first, then
	// evictions, but only of what the store grew since the reserve was last
	// met: what another process took is not the store's to give back.
	// Evicting for it would only feed that process; appends stop at the
	// full mark instead, and resume when the space returns.
	reserve := s.disk.reserveBytes()
	if s.disk.read(0)+s.disk.ballastBytes() >= reserve || !s.okSet {
		s.okLive, s.okSet = s.live(), true
	}
	if need := reserve - s.disk.read(0) - s.disk.ballastBytes(); need > 0 {
		need += reserve / 10
		freed := s.dropConsumed(need)
		if grown := s.live() - s.okLive; freed < need && grown > 0 {
			s.evict(min(need-freed, grown), true)
		}
	}
	s.setFull(s.disk.read(0))
	if !s.disk.full.Load() {
		s.disk.hold()
	}
}

// setFull refuses appends below the full mark and takes them again once
// there is room for the store to work.
func (s *Store) setFull(free int64) {
	switch {
	case free < fullMark && !s.disk.full.Load():
		s.disk.full.Store(true)
		s.log.Error("disk full: appends refused until space returns", "dir", s.opts.Dir, "disk_free", free)
	case free >= workRoom+workRoom/2 && s.disk.full.Load():
		s.disk.full.Store(false)
		s.log.Warn("disk space returned: appends resume", "dir", s.opts.Dir, "disk_free", free)
	}
}

// resumePending finishes a drop whose outcome was not committed (the drop
// or its check failed): the record is still there.
func (s *Store) resumePending() error {
	if err := s.enter(); err != nil {
		return err
	}
	var d *dropPlan
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyDrop)
		if err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				err = nil
			}
			return err
		}
		return item.Value(func(v []byte) error {
			d, err = decodeDrop(v)
			return err
		})
	})
	if err != nil || d == nil {
		s.leave()
		return err
	}
	err = s.doDrop(d, nil)
	s.leave()
	if err != nil {
		return err
	}
	return s.commitDrop(d)
}

// evict drops the oldest events of the lowest priority present, up to need
// bytes, one stream after the other (alerts last), each with its gap record.
// It returns the bytes it freed.
func (s *Store) evict(need int64, forDisk bool) int64 {
	var freed int64
	for p := edge.PriorityLow; p <= edge.PriorityAlert && freed < need; p++ {
		d := &dropPlan{evicted: true, forDisk: forDisk}
		err := s.drop(d, func(txn *badger.Txn, last uint64) error {
			// Events of lower priorities appended since their stream was
			// evicted are younger than what this pass may take.
			below := last + 1
			for q := edge.PriorityLow; q < p; q++ {
				st := newStream(txn, q, last)
				if k, ok := st.firstKey(); ok {
					below = min(below, k)
				}
				st.close()
			}
			return s.planStream(txn, d, p, last, need-freed, func(key uint64, h blockHead) bool { return h.last(key) < below })
		})
		if err == nil && d.empty() {
			continue
		}
		if err != nil {
			if !errors.Is(err, edge.ErrClosed) {
				s.log.Error("eviction failed", "err", err)
			}
			return freed
		}
		freed += d.bytes
		why := "store cap reached: events evicted"
		if forDisk {
			why = "disk reserve reached: events evicted"
		}
		s.throttle.Warn(why, why, "priority", p, "from", d.gapFrom, "to", d.gapTo, "count", d.events,
			"bytes", d.bytes, "cap_bytes", s.opts.CapBytes, "disk_free", s.disk.free.Load())
	}
	return freed
}

// plan runs f in a read transaction with the durable seq.
func (s *Store) plan(f func(txn *badger.Txn, last uint64) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	last := s.durable.Load()
	return s.db.View(func(txn *badger.Txn) error { return f(txn, last) })
}

// consumedBelow is the first seq some cursor has not passed; 0 when there
// is no cursor (nothing is consumed then).
func (s *Store) consumedBelow() (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	curs, err := s.cursors()
	s.leave()
	if err != nil || len(curs) == 0 {
		return 0, err
	}
	passed := ^uint64(0)
	for _, c := range curs {
		passed = min(passed, c)
	}
	return passed, nil
}

// dropConsumed deletes events every cursor has passed, however young, up to
// need bytes: under the disk reserve they are the first to go (they are
// synced and evaluated; no gap record). It returns the bytes it freed.
func (s *Store) dropConsumed(need int64) int64 {
	passed, err := s.consumedBelow()
	if err != nil || passed <= 1 {
		return 0
	}
	d := &dropPlan{}
	err = s.drop(d, func(txn *badger.Txn, last uint64) error {
		for p := edge.PriorityLow; p <= edge.PriorityAlert && d.bytes < need; p++ {
			err := s.planStream(txn, d, p, last, need-d.bytes, func(key uint64, h blockHead) bool { return h.last(key) < passed })
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || d.empty() {
		if err != nil && !errors.Is(err, edge.ErrClosed) {
			s.throttle.Error("consumed-failed", "deleting consumed events failed", "err", err)
		}
		return 0
	}
	s.throttle.Warn("consumed", "disk reserve reached: events already consumed deleted", "count", d.events, "bytes", d.bytes)
	return d.bytes
}

// retain deletes events that every cursor has passed and that are older
// than History. With no cursor at all nothing has been consumed, so nothing
// is deleted (only the cap and the reserve remove events then).
func (s *Store) retain(now time.Time) error {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	passed, err := s.consumedBelow()
	if err != nil || passed <= 1 {
		return err
	}
	cutoff := now.Add(-s.opts.History)
	d := &dropPlan{}
	err = s.drop(d, func(txn *badger.Txn, last uint64) error {
		for p := range numPrio {
			err := s.planStream(txn, d, edge.Priority(p), last, 0, func(key uint64, h blockHead) bool {
				return h.last(key) < passed && h.older(cutoff)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || d.empty() {
		return err
	}
	s.log.Debug("retention deleted events", "count", d.events)
	return nil
}

// valueLogGC rewrites value-log files until Badger finds none worth it.
// Event blocks stay in the LSM tree (ValueThreshold), so this mostly
// finds nothing; it matters for large state values.
func (s *Store) valueLogGC() {
	if err := s.enter(); err != nil {
		return
	}
	defer s.leave()
	if s.readOnly.Load() || !s.disk.writable() {
		return
	}
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	for i := 0; i < 16; i++ {
		if err := s.db.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc failed", "err", err)
			}
			return
		}
	}
}
