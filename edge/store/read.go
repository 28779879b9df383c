package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// Read returns up to max durable events with seq >= from, in seq order.
// Evicted events are skipped; their gap record says so.
func (s *Store) Read(from uint64, max int) ([]edge.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	last := s.durable.Load()
	if from == 0 {
		from = 1
	}
	if max <= 0 || from > last {
		return nil, nil
	}
	out := make([]edge.Event, 0, min(uint64(max), last-from+1, 8192))
	err := s.db.View(func(txn *badger.Txn) error {
		start := from
		if k, ok := blockAtOrBefore(txn, from); ok {
			start = k
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})
		defer it.Close()
		for it.Seek(blockKey(start)); it.Valid() && len(out) < max; it.Next() {
			item := it.Item()
			if blockKeySeq(item.Key()) > last {
				break
			}
			blk, err := s.loadBlock(item)
			if err != nil {
				return err
			}
			for i := blk.find(from); i < len(blk.recs) && len(out) < max && blk.seqs[i] <= last; i++ {
				ev, err := Decode(blk.recs[i])
				if err != nil {
					return fmt.Errorf("read event %d: %w", blk.seqs[i], err)
				}
				out = append(out, ev)
			}
		}
		return nil
	})
	return out, err
}

// blockAtOrBefore returns the key of the block that would hold seq: the
// largest block key <= seq.
func blockAtOrBefore(txn *badger.Txn, seq uint64) (uint64, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}, Reverse: true})
	defer it.Close()
	it.Seek(blockKey(seq))
	if !it.Valid() {
		return 0, false
	}
	return blockKeySeq(it.Item().Key()), true
}

// blockWith returns the block that holds seq in txn, or nil when no block
// does. prev, when it covers seq, is returned without a lookup.
func (s *Store) blockWith(txn *badger.Txn, seq uint64, prev *block) (*block, error) {
	if prev != nil && seq >= prev.key && seq <= prev.last() {
		return prev, nil
	}
	k, ok := blockAtOrBefore(txn, seq)
	if !ok {
		return nil, nil
	}
	item, err := txn.Get(blockKey(k))
	if err != nil {
		return nil, err
	}
	return s.loadBlock(item)
}

// loadBlock decodes the block item holds, or takes it from the cache of
// recently decoded blocks. A rewritten block has a new Badger version, so
// a cached decode is never stale.
func (s *Store) loadBlock(item *badger.Item) (*block, error) {
	key, ver := blockKeySeq(item.Key()), item.Version()
	if b := s.cache.get(key, ver); b != nil {
		return b, nil
	}
	var blk *block
	err := item.Value(func(v []byte) error {
		var err error
		blk, err = openBlock(key, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read block %d: %w", key, err)
	}
	s.cache.put(key, ver, blk)
	return blk, nil
}

// ReadPriority is Read restricted to events of priority >= min. Readings
// (PriorityLow) are not indexed; every higher priority has its own index
// range, merged here in seq order.
func (s *Store) ReadPriority(from uint64, min edge.Priority, max int) ([]edge.Event, error) {
	if min == edge.PriorityLow {
		return s.Read(from, max)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	last := s.durable.Load()
	if from == 0 {
		from = 1
	}
	if max <= 0 || from > last || min > edge.PriorityAlert {
		return nil, nil
	}
	var out []edge.Event
	err := s.db.View(func(txn *badger.Txn) error {
		var its []*badger.Iterator
		defer func() {
			for _, it := range its {
				it.Close()
			}
		}()
		for p := min; p <= edge.PriorityAlert; p++ {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxPrio, byte(p)}})
			it.Seek(prioKey(p, from))
			its = append(its, it)
		}
		var blk *block
		for len(out) < max {
			var best *badger.Iterator
			var bestSeq uint64
			for _, it := range its {
				if !it.Valid() {
					continue
				}
				seq := binary.BigEndian.Uint64(it.Item().Key()[2:])
				if best == nil || seq < bestSeq {
					best, bestSeq = it, seq
				}
			}
			if best == nil || bestSeq > last {
				return nil
			}
			best.Next()
			var err error
			if blk, err = s.blockWith(txn, bestSeq, blk); err != nil {
				return err
			}
			i := -1
			if blk != nil {
				i = blk.find(bestSeq)
			}
			if i < 0 || i >= len(blk.seqs) || blk.seqs[i] != bestSeq {
				// The index and the blocks change in one transaction.
				return fmt.Errorf("read event %d: %w: indexed but not in any block", bestSeq, ErrCorrupt)
			}
			ev, err := Decode(blk.recs[i])
			if err != nil {
				return fmt.Errorf("read event %d: %w", bestSeq, err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// Cursor returns the named cursor; a new name starts at the first event
// still held (1 on an empty store).
func (s *Store) Cursor(name string) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var next uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(cursorKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			next = s.first.Load()
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("bad record of %d bytes", len(v))
			}
			next = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("cursor %q: %w", name, err)
	}
	if next == 0 {
		next = 1
	}
	return next, nil
}

// ErrCursorAhead is returned by SetCursor for a position past LastSeq()+1.
var ErrCursorAhead = errors.New("cursor ahead of the durable log")

// SetCursor durably moves the named cursor to next (the next seq its
// consumer has not processed). It refuses to move past LastSeq()+1.
func (s *Store) SetCursor(name string, next uint64) error {
	if name == "" {
		return errors.New("set cursor: empty name")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if last := s.durable.Load(); next > last+1 {
		return fmt.Errorf("set cursor %q to %d: %w (last seq %d)", name, next, ErrCursorAhead, last)
	}
	v := binary.BigEndian.AppendUint64(nil, next)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(cursorKey(name), v) }); err != nil {
		return fmt.Errorf("set cursor %q: %w", name, err)
	}
	return nil
}

func cursorKey(name string) []byte { return append([]byte{pfxCursor}, name...) }

// cursors returns every named cursor.
func (s *Store) cursors() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxCursor}, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			name := string(item.Key()[1:])
			if err := item.Value(func(v []byte) error {
				if len(v) == 8 {
					out[name] = binary.BigEndian.Uint64(v)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func stateKey(key string) []byte { return append([]byte{pfxState}, key...) }

// GetState returns the value stored under key, nil when absent.
func (s *Store) GetState(key string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stateKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		if out == nil {
			out = []byte{}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get state %q: %w", key, err)
	}
	return out, nil
}

// PutState durably stores val under key.
func (s *Store) PutState(key string, val []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	v := append([]byte(nil), val...)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(stateKey(key), v) }); err != nil {
		return fmt.Errorf("put state %q: %w", key, err)
	}
	return nil
}

// DeleteState durably removes key.
func (s *Store) DeleteState(key string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(stateKey(key)) }); err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	return nil
}

// blockCache keeps the last few decoded blocks: cursors read forward in
// pages that rarely end on a block boundary, and the rules engine, the
// uplink and the status page read the same recent blocks.
type blockCache struct {
	mu   sync.Mutex
	ents [8]cacheEnt
	next int
}

type cacheEnt struct {
	key, ver uint64
	blk      *block
}

func (c *blockCache) get(key, ver uint64) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.ents {
		if e.blk != nil && e.key == key && e.ver == ver {
			return e.blk
		}
	}
	return nil
}

func (c *blockCache) put(key, ver uint64, b *block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ents[c.next] = cacheEnt{key, ver, b}
	c.next = (c.next + 1) % len(c.ents)
}
