package store

import (
	"context"
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
}

// delPlan deletes held events. The writer commits it in the same
// transaction as its gap record and the counters, so a crash can never leave
// an eviction without its gap record.
type delPlan struct {
	keys    [][]byte
	events  uint64
	bytes   int64
	evicted bool // evicted by the cap (false: past history)
	result  chan error
}

// entries is how many Badger entries r adds to a transaction, and bytes an
// upper bound of their size as Badger counts it.
func (r *req) cost() (entries, bytes int64) {
	if r.del != nil {
		for _, k := range r.del.keys {
			bytes += int64(len(k)) + 20
		}
		entries = int64(len(r.del.keys))
	}
	if r.rec != nil {
		entries++
		bytes += int64(len(r.rec)) + 9 + 20
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
	return &req{ev: ev, rec: Encode(make([]byte, 0, headerLen+64+len(ev.Text)), &ev)}
}

// AppendAsync queues ev for the next group commit; done (if not nil) is
// called once it is durable, with its seq, or has failed. It blocks only
// while the commit queue is full.
func (s *Store) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	r := s.prepare(ev)
	r.done = done
	return s.submit(context.Background(), r)
}

func (s *Store) submit(ctx context.Context, r *req) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
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
	maxEntries := s.db.MaxBatchCount() * 8 / 10
	maxBytes := s.db.MaxBatchSize() * 8 / 10
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var carry *req
	for {
		var batch []*req
		var entries, bytes int64
		add := func(r *req) bool {
			e, b := r.cost()
			if len(batch) > 0 && (entries+e > maxEntries || bytes+b > maxBytes) {
				carry = r
				return false
			}
			batch = append(batch, r)
			entries, bytes = entries+e, bytes+b
			return true
		}
		closed := false
		if carry != nil {
			r := carry
			carry = nil
			add(r)
		} else {
			select {
			case r := <-s.delq:
				add(r)
			case r, ok := <-s.queue:
				if !ok {
					return
				}
				add(r)
			}
		}
		// Deletions jump the queue: under overload the cap must still be
		// enforced, and its gap record written, at once.
		select {
		case r := <-s.delq:
			add(r)
		default:
		}
		timer.Reset(s.opts.CommitWait)
	collect:
		for carry == nil {
			select {
			case r := <-s.delq:
				add(r)
			case r, ok := <-s.queue:
				if !ok {
					closed = true
					break collect
				}
				add(r)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		s.commit(batch)
		if closed && carry == nil {
			return
		}
		if closed {
			s.commit([]*req{carry})
			return
		}
	}
}

// commit writes one batch in one transaction and fsyncs it (SyncWrites).
func (s *Store) commit(batch []*req) {
	c := s.w
	err := s.writeBatch(batch, &c)
	if err != nil {
		s.log.Error("group commit failed", "events", len(batch), "err", err)
		for _, r := range batch {
			if r.del != nil {
				r.del.result <- err
			}
		}
		for _, r := range batch {
			r.ev.Seq, r.err = 0, err
		}
		s.done <- batch
		return
	}
	s.w = c
	s.pubMu.Lock()
	s.pub = c
	s.pubMu.Unlock()
	s.commits.Add(1)
	s.durable.Store(c.LastSeq)
	s.wake()
	for _, r := range batch {
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
	s.done <- batch
}

func (s *Store) writeBatch(batch []*req, c *counters) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	var appended uint64
	for _, r := range batch {
		if d := r.del; d != nil {
			for _, k := range d.keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			c.Live -= d.bytes
			c.Removed += d.events
			if d.evicted {
				c.Evicted += d.events
			}
		}
		if r.rec == nil {
			continue
		}
		c.LastSeq++
		r.ev.Seq = c.LastSeq
		patchSeq(r.rec, s.epoch, c.LastSeq)
		if err := txn.Set(eventKey(c.LastSeq), r.rec); err != nil {
			return err
		}
		if r.ev.Priority > edge.PriorityLow {
			if err := txn.Set(prioKey(r.ev.Priority, c.LastSeq), nil); err != nil {
				return err
			}
		}
		c.Live += recordCost(r.ev.Priority, len(r.rec))
		if r.ev.Kind == edge.KindGap {
			c.GapRecords++
		}
		appended++
	}
	if err := txn.Set(keyCounters, c.encode()); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	s.appended.Add(appended)
	return nil
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
		}
	}
}
