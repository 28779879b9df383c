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

// req is one unit of work for the writer: an event to append, or a deletion
// planned by maintenance (with the gap record that accounts for it).
type req struct {
	ev   edge.Event
	rec  []byte // encoded ev; epoch and seq are patched in by the writer
	done func(edge.Event, error)
	err  error // set when the commit failed
	del  *delPlan
	at   time.Time // when it was queued
}

// delPlan removes held events: it deletes or rewrites the blocks that hold
// them and deletes their priority-index keys. The writer commits it in the
// same transaction as its gap record and the counters, so a crash can never
// leave an eviction without its gap record.
type delPlan struct {
	deletes [][]byte
	sets    []kv
	events  uint64
	bytes   int64
	evicted bool // evicted by the cap (false: past history)
	result  chan error
}

type kv struct{ k, v []byte }

// cost is how many Badger entries r adds to a transaction, and an upper
// bound of their size as Badger counts it. An event counts its raw record;
// the writer lowers that to the compressed size when it seals a block.
func (r *req) cost() (entries, bytes int64) {
	if d := r.del; d != nil {
		for _, k := range d.deletes {
			bytes += int64(len(k)) + 20
		}
		for _, e := range d.sets {
			bytes += int64(len(e.k)+len(e.v)) + 20
		}
		entries = int64(len(d.deletes) + len(d.sets))
	}
	if r.rec != nil {
		bytes += int64(len(r.rec)) + 3
		if r.ev.Priority > edge.PriorityLow {
			entries++
			bytes += 10 + 20
		}
	}
	return entries, bytes
}

// prepare stamps and encodes ev in the caller's goroutine, so producers
// share the encoding work and the writer only patches in the seq.
func (s *Store) prepare(ev edge.Event) *req {
	if ev.Time.IsZero() {
		if s.opts.Judge != nil {
			ev.Time, ev.ClockTrusted = s.opts.Judge.Stamp()
		} else {
			ev.Time, ev.ClockTrusted = time.Now().Round(0), true
		}
	}
	if ev.Priority == 0 {
		ev.Priority = edge.DefaultPriority(ev.Kind)
	}
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
	if r.del != nil {
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
// while the commit queue is full.
func (s *Store) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	r := s.prepare(ev)
	r.done = done
	return s.submit(context.Background(), r)
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
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	r.at = time.Now()
	select {
	case s.queue <- r:
		return nil
	default:
	}
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
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
	timer := time.NewTimer(time.Hour)
	timer.Stop()
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
			wait -= time.Since(at)
		}
		// First what is queued now, then, while the wait lasts, what comes.
		var expire <-chan time.Time // nil: take only what is queued now
		for pass := 0; pass < 2 && carry == nil && !closed; pass++ {
			if pass == 1 {
				if wait <= 0 {
					break
				}
				timer.Reset(wait)
				expire = timer.C
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
		timer.Stop()
		s.commit(b)
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

// next returns the next queued request, deletions first (under overload
// the cap must still be enforced, and its gap record written, at once).
// With expire nil
// it returns nil at once when nothing is queued; otherwise it waits for a
// request until expire fires. closed reports that the queue is closed.
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

// batch is one group commit being built. Seqs are assigned as events are
// added, on a copy of the counters that only becomes the store's when the
// transaction commits; blocks are sealed (compressed) as they fill, so the
// compression runs while the batch still waits for company.
type batch struct {
	s        *Store
	c        counters
	reqs     []*req
	blocks   []kv
	open     blockBuf
	prio     [][]byte
	entries  int64
	bytes    int64
	raw      int64 // raw bytes of the events added
	appended uint64
}

func (s *Store) newBatch() *batch { return &batch{s: s, c: s.w} }

// fits reports whether r fits the transaction; the first request always
// does (a deletion plan is bounded to fit alone).
func (b *batch) fits(r *req, lim batchLimits) bool {
	if len(b.reqs) == 0 {
		return true
	}
	e, n := r.cost()
	e++ // the block r may open
	return b.entries+e <= lim.entries && b.bytes+n+20 <= lim.bytes && b.raw+int64(len(r.rec)) <= maxCommitRaw
}

func (b *batch) add(r *req) {
	b.reqs = append(b.reqs, r)
	e, n := r.cost()
	b.entries += e
	b.bytes += n
	c := &b.c
	if d := r.del; d != nil {
		c.Live -= d.bytes
		c.Removed += d.events
		if d.evicted {
			c.Evicted += d.events
		}
	}
	if r.rec == nil {
		return
	}
	c.LastSeq++
	r.ev.Seq = c.LastSeq
	patchSeq(r.rec, b.s.epoch, c.LastSeq)
	if b.open.n == 0 {
		b.entries++
		b.bytes += 9 + 20
	}
	b.open.add(c.LastSeq, r.rec)
	b.raw += int64(len(r.rec))
	if r.ev.Priority > edge.PriorityLow {
		b.prio = append(b.prio, prioKey(r.ev.Priority, c.LastSeq))
	}
	c.Live += recordCost(r.ev.Priority, len(r.rec))
	if r.ev.Kind == edge.KindGap {
		c.GapRecords++
	}
	b.appended++
	if len(b.open.raw) >= maxBlockRaw {
		b.seal()
	}
}

// seal compresses the open block and charges its stored size instead of
// its raw size.
func (b *batch) seal() {
	if b.open.n == 0 {
		return
	}
	v := sealBlock(b.open.raw)
	b.bytes += int64(len(v)) - int64(len(b.open.raw))
	b.blocks = append(b.blocks, kv{blockKey(b.open.first), v})
	b.open.reset()
}

// commit writes one batch in one transaction and fsyncs it (SyncWrites).
func (s *Store) commit(b *batch) {
	err := s.writeBatch(b)
	if err != nil {
		s.log.Error("group commit failed", "events", b.appended, "err", err)
		for _, r := range b.reqs {
			if r.del != nil {
				r.del.result <- err
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
	s.durable.Store(c.LastSeq)
	s.wake()
	for _, r := range b.reqs {
		if r.del != nil {
			r.del.result <- nil
		}
	}
	if s.opts.CapBytes > 0 && c.Live > s.opts.CapBytes {
		select {
		case s.capSignal <- struct{}{}:
		default:
		}
	}
	s.done <- b.reqs
}

func (s *Store) writeBatch(b *batch) error {
	b.seal()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, r := range b.reqs {
		d := r.del
		if d == nil {
			continue
		}
		for _, k := range d.deletes {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		for _, e := range d.sets {
			if err := txn.Set(e.k, e.v); err != nil {
				return err
			}
		}
	}
	for _, e := range b.blocks {
		if err := txn.Set(e.k, e.v); err != nil {
			return err
		}
	}
	for _, k := range b.prio {
		if err := txn.Set(k, nil); err != nil {
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
			if r.done != nil {
				r.done(r.ev, r.err)
			}
			release(r)
		}
	}
}
