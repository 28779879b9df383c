package store

import (
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// bucketCounts counts the held events and bytes of each priority's blocks
// in each bucket of 65,536 seqs (keys.go), so that the backlog of a cursor
// (Held) is counted without reading the blocks, and drops leave out the
// buckets that hold nothing.
type bucketCounts struct {
	mu sync.Mutex
	m  [numPrio]map[uint64]*bucketCount
}

type bucketCount struct {
	events uint64
	bytes  int64
}

// load counts every block's header.
func (c *bucketCounts) load(db *badger.DB) error {
	var m [numPrio]map[uint64]*bucketCount
	for p := range m {
		m[p] = map[uint64]*bucketCount{}
	}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			p, key, ok := parseBlockKey(item.Key())
			if !ok {
				continue
			}
			if err := item.Value(func(v []byte) error {
				h, err := readHead(key, v)
				if err != nil {
					return err
				}
				bc := bucketOf(m[p], key>>bucketBits)
				bc.events += h.count
				bc.bytes += liveCost(len(item.Key()), len(v))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.m = m
	c.mu.Unlock()
	return nil
}

func bucketOf(m map[uint64]*bucketCount, b uint64) *bucketCount {
	bc := m[b]
	if bc == nil {
		bc = &bucketCount{}
		m[b] = bc
	}
	return bc
}

// add counts a block the writer committed.
func (c *bucketCounts) add(k, v []byte) {
	p, key, ok := parseBlockKey(k)
	if !ok {
		return
	}
	h, err := readHead(key, v)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[p] == nil {
		c.m[p] = map[uint64]*bucketCount{}
	}
	bc := bucketOf(c.m[p], key>>bucketBits)
	bc.events += h.count
	bc.bytes += liveCost(len(k), len(v))
}

// drop forgets the buckets of priority p wholly below upto; the caller
// recounts the bucket upto falls in (set).
func (c *bucketCounts) drop(p edge.Priority, upto uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := range c.m[p] {
		if b < upto>>bucketBits {
			delete(c.m[p], b)
		}
	}
}

// set replaces the count of one bucket.
func (c *bucketCounts) set(p edge.Priority, b uint64, n bucketCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[p] == nil {
		c.m[p] = map[uint64]*bucketCount{}
	}
	if n.events == 0 {
		delete(c.m[p], b)
		return
	}
	c.m[p][b] = &n
}

// has reports whether priority p has blocks in bucket b.
func (c *bucketCounts) has(p edge.Priority, b uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[p][b] != nil
}

// bytes is the total of the held blocks' costs.
func (c *bucketCounts) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, m := range c.m {
		for _, bc := range m {
			n += bc.bytes
		}
	}
	return n
}

// above counts the events in the buckets after b.
func (c *bucketCounts) above(b uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n uint64
	for _, m := range c.m {
		for k, bc := range m {
			if k > b {
				n += bc.events
			}
		}
	}
	return n
}

// recountBucket counts the blocks of priority p in bucket b again (after a
// drop that took part of it).
func (s *Store) recountBucket(txn *badger.Txn, p edge.Priority, b uint64) error {
	var n bucketCount
	st := newStream(txn, p, s.durable.Load())
	defer st.close()
	for st.seek(b << bucketBits); st.valid && st.key>>bucketBits == b; st.next() {
		h, size, err := st.head()
		if err != nil {
			return err
		}
		n.events += h.count
		n.bytes += liveCost(10, size)
	}
	s.buckets.set(p, b, n)
	return nil
}

// Held returns the number of events still held with seq >= from: the sync
// backlog counts what is stored, not what was evicted (edge.Backlogger).
func (s *Store) Held(from uint64) uint64 {
	if err := s.enter(); err != nil {
		return 0
	}
	defer s.leave()
	last := s.durable.Load()
	from = maxU(from, 1)
	if from > last {
		return 0
	}
	fb := from >> bucketBits
	n := s.buckets.above(fb)
	_ = s.db.View(func(txn *badger.Txn) error {
		for p := range numPrio {
			st := newStream(txn, edge.Priority(p), last)
			if err := st.seekHolding(from); err != nil {
				st.close()
				return err
			}
			for ; st.valid && st.key>>bucketBits <= fb; st.next() {
				if st.key >= from {
					h, _, err := st.head()
					if err != nil {
						break
					}
					n += h.count
					continue
				}
				blk, err := s.loadBlock(edge.Priority(p), st.key, st.item)
				if err != nil {
					break
				}
				n += uint64(len(blk.seqs) - blk.find(from))
			}
			st.close()
		}
		return nil
	})
	return n
}

var _ edge.Backlogger = (*Store)(nil)
