package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// req is one unit of work for the writer: an event to append, or the
// outcome of a drop (maint.go) with the gap record that accounts for it.
type req struct {
	ev     edge.Event
	rec    []byte // encoded ev; epoch and seq are patched in by the writer
	done   func(edge.Event, error)
	err    error // set when the commit failed
	drop   *dropPlan
	at     time.Time // when it was queued
	queued int64     // bytes held in Store.queued until the commit
}

// cost is how many Badger entries r adds to a transaction, and an upper
// bound of their size as Badger counts it. An event counts its raw record;
// the writer lowers that to the compressed size when it seals a block.
func (r *req) cost() (entries, bytes int64) {
	if d := r.drop; d != nil {
		entries, bytes = 1, 32 // the deletion of the drop's record
		for _, t := range d.tail {
			entries += int64(len(t))
			bytes += 32 * int64(len(t))
		}
	}
	if r.rec != nil {
		bytes += int64(len(r.rec)) + 3
	}
	return entries, bytes
}

// prepare stamps and encodes ev in the caller's goroutine, so producers
// share the encoding work and the writer only patches in the seq.
func (s *Store) prepare(ev edge.Event) *req {
	if ev.Time.IsZero() {
		if s.opts.Judge != nil {
			s.opts.Judge.Mark(&ev)
		} else {
			ev.Time, ev.ClockTrusted = s.clock.Now().Round(0), true
		}
	}
	if ev.Priority == 0 {
		ev.Priority = edge.DefaultPriority(ev.Kind)
	}
	ev.Priority = min(ev.Priority, edge.PriorityAlert)
	ev.Epoch, ev.Seq = s.epoch, 0
	r := reqPool.Get().(*req)
	r.ev = ev
	r.rec = Encode(r.rec[:0], &ev)
	return r
}

// reqPool recycles event requests once their callback has run: at full
// ingest a request and its record are most of what the store allocates,
// and the garbage they made set the pace of the GC.
var reqPool = sync.Pool{New: func() any { return new(req) }}

// release returns r to reqPool; nothing may use it afterwards.
func release(r *req) {
	if r.drop != nil {
		return
	}
	rec := r.rec[:0]
	if cap(rec) > 4<<10 {
		rec = nil // do not keep a rare large record's buffer alive
	}
	*r = req{rec: rec}
	reqPool.Put(r)
}

// AppendAsync queues ev for the next group commit; done (if not nil) is
// called once it is durable, with its seq, or has failed. It blocks only
// while the commit queue is full. While the disk is full it refuses ev at
// once with an error wrapping edge.ErrDiskFull.
func (s *Store) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	r := s.prepare(ev)
	r.done = done
	if err := s.submit(context.Background(), r); err != nil {
		release(r)
		return err
	}
	return nil
}

// MaxEventBytes bounds one encoded event, so that any event fits a group
// commit (Badger's transaction limit) and a block stays in the LSM tree.
const MaxEventBytes = 32 << 10

// ErrEventTooLarge is returned for an event whose encoded form exceeds
// MaxEventBytes.
var ErrEventTooLarge = errors.New("event too large")

func (s *Store) submit(ctx context.Context, r *req) error {
	if len(r.rec) > MaxEventBytes {
		return fmt.Errorf("append %s event of device %q: %w: %d bytes encoded, at most %d",
			r.ev.Kind, r.ev.Device, ErrEventTooLarge, len(r.rec), MaxEventBytes)
	}
	if s.disk.full.Load() || s.readOnly.Load() {
		s.disk.refused.Add(1)
		return fmt.Errorf("append %s event of device %q: %w", r.ev.Kind, r.ev.Device, s.disk.errFull())
	}
	n := int64(len(r.rec)) + 64
	if !s.queued.TryAcquire(n) {
		if err := s.queued.Acquire(ctx, n); err != nil {
			return err
		}
	}
	r.queued = n
	if err := s.enter(); err != nil {
		s.queued.Release(n)
		return err
	}
	defer s.leave()
	r.at = s.clock.Now()
	select {
	case s.queue <- r:
		return nil
	default:
	}
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
		s.queued.Release(n)
		return ctx.Err()
	}
}

// Append appends evs and returns them, stamped with (epoch, seq), once all
// are durable. If ctx ends first, Append returns its error; the events may
// still become durable.
func (s *Store) Append(ctx context.Context, evs ...edge.Event) ([]edge.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]edge.Event, len(evs))
	var (
		left    atomic.Int64
		mu      sync.Mutex
		failed  error
		allDone = make(chan struct{})
	)
	left.Store(int64(len(evs)))
	finish := func() {
		if left.Add(-1) == 0 {
			close(allDone)
		}
	}
	for i := range evs {
		r := s.prepare(evs[i])
		r.done = func(ev edge.Event, err error) {
			if err != nil {
				mu.Lock()
				if failed == nil {
					failed = err
				}
				mu.Unlock()
			} else {
				out[i] = ev
			}
			finish()
		}
		if err := s.submit(ctx, r); err != nil {
			release(r)
			return nil, fmt.Errorf("append: %w", err)
		}
	}
	select {
	case <-allDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return nil, fmt.Errorf("append: %w", failed)
	}
	return out, nil
}

// writer is the only goroutine that writes events and counters. It takes
// what is queued, waits at most CommitWait from the first request for more
// (less when a batch fills), commits all of it in one synced transaction,
// and only then publishes the new LastSeq.
func (s *Store) writer() {
	defer s.wg.Done()
	defer close(s.done)
	lim := batchLimits{entries: s.db.MaxBatchCount() * 8 / 10, bytes: s.db.MaxBatchSize() * 8 / 10}
	var carry *req
	for {
		b := s.newBatch()
		add := func(r *req) {
			if !b.fits(r, lim) {
				carry = r
				return
			}
			b.add(r)
		}
		closed := false
		if carry != nil {
			r := carry
			carry = nil
			b.add(r)
		} else {
			select {
			case r := <-s.delq:
				b.add(r)
			case r, ok := <-s.queue:
				if !ok {
					return
				}
				b.add(r)
			}
		}
		// The wait counts from when the batch's first event was queued, not
		// from when the writer got to it: an event that arrived during the
		// previous commit has already waited that long. What is queued
		// already joins the batch either way.
		wait := s.opts.CommitWait
		if at := b.reqs[0].at; !at.IsZero() {
			wait -= s.clock.Now().Sub(at)
		}
		// First what is queued now, then, while the wait lasts, what comes.
		var expire <-chan time.Time // nil: take only what is queued now
		for pass := 0; pass < 2 && carry == nil && !closed; pass++ {
			if pass == 1 {
				if wait <= 0 {
					break
				}
				expire = s.clock.After(wait)
			}
			for carry == nil && !closed {
				r, shut := s.next(expire)
				if shut {
					closed = true
				} else if r == nil {
					break
				} else {
					add(r)
				}
			}
		}
		s.commit(b)
		s.pageKick()
		if closed && carry == nil {
			return
		}
		if closed {
			b := s.newBatch()
			b.add(carry)
			s.commit(b)
			return
		}
	}
}

// next returns the next queued request, drop outcomes first (their gap
// records must be written at once). With expire nil it returns nil at once
// when nothing is queued; otherwise it waits for a request until expire
// fires. closed reports that the queue is closed.
func (s *Store) next(expire <-chan time.Time) (r *req, closed bool) {
	select {
	case r := <-s.delq:
		return r, false
	default:
	}
	if expire == nil {
		select {
		case r, ok := <-s.queue:
			return r, !ok
		default:
			return nil, false
		}
	}
	select {
	case r := <-s.delq:
		return r, false
	case r, ok := <-s.queue:
		return r, !ok
	case <-expire:
		return nil, false
	}
}

type batchLimits struct{ entries, bytes int64 }

// maxCommitRaw bounds the raw bytes of events in one group commit. Under
// overload a commit otherwise grows to Badger's batch limit in compressed
// bytes (several thousand events), and every event in it waits for the
// whole batch to be encoded and written: smaller commits keep the
// append-to-durable tail short at a small cost in fsyncs.
const maxCommitRaw = 384 << 10

// maxCommitEvents bounds the events of one commit, hence the seqs one block
// spans (a block belongs to one commit): readers look for the block that
// holds a seq at most this far back.
const maxCommitEvents = 16384

// batch is one group commit being built. Seqs are assigned as events are
// added, on a copy of the counters that only becomes the store's when the
// transaction commits; blocks are sealed (compressed) as they fill, so the
// compression runs while the batch still waits for company.
type batch struct {
	s        *Store
	c        counters
	reqs     []*req
	blocks   []kv
	open     [numPrio]blockBuf
	entries  int64
	bytes    int64
	raw      int64 // raw bytes of the events added
	appended uint64
	drops    int    // drop outcomes in the batch
	gen      uint64 // Store.gen when the batch began
}

type kv struct{ k, v []byte }

func (s *Store) newBatch() *batch {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return &batch{s: s, c: s.w, gen: s.gen}
}

// fits reports whether r fits the transaction; the first request always
// does.
func (b *batch) fits(r *req, lim batchLimits) bool {
	if len(b.reqs) == 0 {
		return true
	}
	e, n := r.cost()
	e++ // the block r may open
	return b.entries+e <= lim.entries && b.bytes+n+20 <= lim.bytes &&
		b.raw+int64(len(r.rec)) <= maxCommitRaw && b.appended < maxCommitEvents
}

func (b *batch) add(r *req) {
	b.reqs = append(b.reqs, r)
	e, n := r.cost()
	b.entries += e
	b.bytes += n
	c := &b.c
	if d := r.drop; d != nil {
		b.drops++
		c.Live -= d.bytes
		c.Removed += d.events
		if d.evicted {
			c.Evicted += d.events
			if d.forDisk {
				c.DiskEvicted += d.events
			}
		}
	}
	if r.rec == nil {
		return
	}
	c.LastSeq++
	r.ev.Seq = c.LastSeq
	patchSeq(r.rec, b.s.epoch, c.LastSeq)
	ob := &b.open[r.ev.Priority]
	if ob.n == 0 {
		b.entries++
		b.bytes += 10 + 20
	}
	ob.add(c.LastSeq, r.rec)
	b.raw += int64(len(r.rec))
	if r.ev.Kind == edge.KindGap {
		c.GapRecords++
	}
	b.appended++
	if len(ob.raw) >= maxBlockRaw {
		b.seal(r.ev.Priority)
	}
}

// seal compresses the open block of priority p and charges its stored size
// instead of its raw size.
func (b *batch) seal(p edge.Priority) {
	ob := &b.open[p]
	if ob.n == 0 {
		return
	}
	k, v := blockKey(p, ob.first), ob.seal()
	b.bytes += int64(len(v)) - int64(len(ob.raw))
	b.c.Live += liveCost(len(k), len(v))
	b.blocks = append(b.blocks, kv{k, v})
	ob.reset()
}

// commit writes one batch in one transaction and fsyncs it (SyncWrites).
func (s *Store) commit(b *batch) {
	err := s.writeBatch(b)
	if err != nil {
		if errors.Is(err, edge.ErrDiskFull) {
			s.failedFull.Add(1)
			s.signalMaint()
		} else {
			s.log.Error("group commit failed", "events", b.appended, "err", err)
		}
		for _, r := range b.reqs {
			if r.drop != nil {
				r.drop.result <- err
			}
		}
		for _, r := range b.reqs {
			r.ev.Seq, r.err = 0, err
		}
		s.done <- b.reqs
		return
	}
	c := b.c
	s.w = c
	s.pubMu.Lock()
	s.pub = c
	s.pubMu.Unlock()
	s.commits.Add(1)
	s.appended.Add(b.appended)
	for _, e := range b.blocks {
		s.buckets.add(e.k, e.v)
	}
	s.durable.Store(c.LastSeq)
	s.wake()
	for _, r := range b.reqs {
		if r.drop != nil {
			r.drop.result <- nil
		}
	}
	if s.opts.CapBytes > 0 && c.Live+fixedBytes > s.opts.CapBytes {
		s.signalMaint()
	} else if s.disk.grew(b.bytes) {
		s.signalMaint()
	}
	s.done <- b.reqs
}

func (s *Store) signalMaint() {
	select {
	case s.capSignal <- struct{}{}:
	default:
	}
}

func (s *Store) writeBatch(b *batch) error {
	for p := range b.open {
		b.seal(edge.Priority(p))
	}
	// The writer runs after Close until the queue is drained, so it takes
	// the lock directly, not through enter.
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	// A drop's outcome ends a drop that freed space: the ballast may give
	// it room (onNoSpace), where new events would have to wait.
	room := s.disk.writable() || (b.drops > 0 && s.disk.ballastBytes() > 0)
	if s.db == nil || s.readOnly.Load() || b.gen != s.gen || !room {
		s.disk.full.Store(true)
		return s.disk.errFull()
	}
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	return s.writeTxn(b)
}

// writeTxn writes a sealed batch in one transaction.
func (s *Store) writeTxn(b *batch) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, r := range b.reqs {
		d := r.drop
		if d == nil {
			continue
		}
		if err := txn.Delete(keyDrop); err != nil {
			return err
		}
		for p, keys := range d.tail {
			for _, k := range keys {
				if err := txn.Delete(blockKey(edge.Priority(p), k)); err != nil {
					return err
				}
			}
		}
	}
	for _, e := range b.blocks {
		if err := txn.Set(e.k, e.v); err != nil {
			return err
		}
	}
	if err := txn.Set(keyCounters, b.c.encode()); err != nil {
		return err
	}
	return txn.Commit()
}

// completer runs the callbacks of committed batches, so the writer can
// start the next commit at once.
func (s *Store) completer() {
	defer s.wg.Done()
	for batch := range s.done {
		for _, r := range batch {
			if r.queued > 0 {
				s.queued.Release(r.queued)
			}
			if r.done != nil {
				r.done(r.ev, r.err)
			}
			release(r)
		}
	}
}
