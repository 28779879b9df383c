package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// stream walks the blocks of one priority in seq order, bucket by bucket
// (keys.go), never past the durable seq last.
type stream struct {
	p     edge.Priority
	it    *badger.Iterator
	last  uint64
	valid bool
	key   uint64 // first seq of the current block
	item  *badger.Item
}

func newStream(txn *badger.Txn, p edge.Priority, last uint64) *stream {
	return &stream{p: p, last: last, it: txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})}
}

func (st *stream) close() { st.it.Close() }

// seek moves to the first block of the stream whose first seq is >= seq.
func (st *stream) seek(seq uint64) {
	st.it.Seek(blockKey(st.p, seq))
	st.settle()
}

func (st *stream) next() {
	st.it.Next()
	st.settle()
}

// settle moves forward from the iterator's position to the next block of
// the stream: past the other priorities of a bucket with one seek.
func (st *stream) settle() {
	lastBucket := st.last >> bucketBits
	for st.it.Valid() {
		p, key, ok := parseBlockKey(st.it.Item().Key())
		if !ok {
			st.it.Next()
			continue
		}
		b := key >> bucketBits
		switch {
		case b > lastBucket || (p == st.p && key > st.last):
			st.valid = false
			return
		case p == st.p:
			st.valid, st.key, st.item = true, key, st.it.Item()
			return
		case p < st.p:
			st.it.Seek(blockKey(st.p, b<<bucketBits))
		case b == lastBucket:
			st.valid = false
			return
		default:
			st.it.Seek(blockKey(st.p, (b+1)<<bucketBits))
		}
	}
	st.valid = false
}

// firstKey returns the first seq of the stream's first block.
func (st *stream) firstKey() (uint64, bool) {
	st.seek(0)
	return st.key, st.valid
}

// head reads the header of the current block.
func (st *stream) head() (blockHead, int, error) {
	var h blockHead
	var size int
	err := st.item.Value(func(v []byte) error {
		var err error
		h, err = readHead(st.key, v)
		size = len(v)
		return err
	})
	return h, size, err
}

// seekHolding moves to the first block that holds a seq >= from: the block
// holding from starts at most maxCommitEvents before it.
func (st *stream) seekHolding(from uint64) error {
	st.seek(from - min(from, maxCommitEvents))
	for st.valid && st.key < from {
		h, _, err := st.head()
		if err != nil {
			return err
		}
		if h.last(st.key) >= from {
			return nil
		}
		st.next()
	}
	return nil
}

// Read returns up to max durable events with seq >= from, in seq order.
// Evicted events are skipped; their gap record says so.
func (s *Store) Read(from uint64, max int) ([]edge.Event, error) {
	return s.read(from, edge.PriorityLow, max)
}

// ReadPriority is Read restricted to events of priority >= min: it merges
// the streams of those priorities only, so it is cheap even with a large
// backlog of readings.
func (s *Store) ReadPriority(from uint64, min edge.Priority, max int) ([]edge.Event, error) {
	return s.read(from, min, max)
}

func (s *Store) read(from uint64, minP edge.Priority, max int) ([]edge.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	last := s.durable.Load()
	from = maxU(from, 1)
	if max <= 0 || from > last || minP > edge.PriorityAlert {
		return nil, nil
	}
	out := make([]edge.Event, 0, min(uint64(max), last-from+1, 8192))
	err := s.db.View(func(txn *badger.Txn) error {
		type head struct {
			st  *stream
			blk *block
			i   int
		}
		var heads []*head
		defer func() {
			for _, h := range heads {
				h.st.close()
			}
		}()
		load := func(h *head) error {
			for h.st.valid {
				blk, err := s.loadBlock(h.st.p, h.st.key, h.st.item)
				if err != nil {
					return err
				}
				if i := blk.find(from); i < len(blk.seqs) {
					h.blk, h.i = blk, i
					return nil
				}
				h.st.next()
			}
			h.blk = nil
			return nil
		}
		for p := minP; p <= edge.PriorityAlert; p++ {
			h := &head{st: newStream(txn, p, last)}
			heads = append(heads, h)
			if err := h.st.seekHolding(from); err != nil {
				return err
			}
			if err := load(h); err != nil {
				return err
			}
		}
		for len(out) < max {
			var best *head
			for _, h := range heads {
				if h.blk != nil && (best == nil || h.blk.seqs[h.i] < best.blk.seqs[best.i]) {
					best = h
				}
			}
			if best == nil || best.blk.seqs[best.i] > last {
				return nil
			}
			ev, err := Decode(best.blk.recs[best.i])
			if err != nil {
				return fmt.Errorf("read event %d: %w", best.blk.seqs[best.i], err)
			}
			out = append(out, ev)
			if best.i++; best.i == len(best.blk.seqs) {
				best.st.next()
				if err := load(best); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// loadBlock decodes the block item holds, or takes it from the cache of
// recently decoded blocks. Blocks are never rewritten, and a key is only
// written again after a drop (the same events, after a crash), so a cached
// decode keyed by key and version is never stale.
func (s *Store) loadBlock(p edge.Priority, key uint64, item *badger.Item) (*block, error) {
	ver := item.Version()
	if b := s.cache.get(p, key, ver); b != nil {
		return b, nil
	}
	var blk *block
	err := item.Value(func(v []byte) error {
		var err error
		blk, err = openBlock(p, key, v)
		s.readMapped(len(v))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read block %d of priority %d: %w", key, p, err)
	}
	s.cache.put(p, key, ver, blk)
	return blk, nil
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
// consumer has not processed). It refuses to move past LastSeq()+1, and
// while the disk is full (edge.ErrDiskFull).
func (s *Store) SetCursor(name string, next uint64) error {
	if name == "" {
		return errors.New("set cursor: empty name")
	}
	if last := s.durable.Load(); next > last+1 {
		return fmt.Errorf("set cursor %q to %d: %w (last seq %d)", name, next, ErrCursorAhead, last)
	}
	v := binary.BigEndian.AppendUint64(nil, next)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(cursorKey(name), v) }); err != nil {
		return fmt.Errorf("set cursor %q: %w", name, err)
	}
	return nil
}

// update runs a small write transaction outside the writer: cursors and
// state. It is refused while the disk has no room, and waits for a drop.
func (s *Store) update(f func(txn *badger.Txn) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.readOnly.Load() || !s.disk.writable() {
		return s.disk.errFull()
	}
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	return s.db.Update(f)
}

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
	v := append([]byte(nil), val...)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(stateKey(key), v) }); err != nil {
		return fmt.Errorf("put state %q: %w", key, err)
	}
	return nil
}

// DeleteState durably removes key.
func (s *Store) DeleteState(key string) error {
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(stateKey(key)) }); err != nil {
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
	p        edge.Priority
	key, ver uint64
	blk      *block
}

func (c *blockCache) get(p edge.Priority, key, ver uint64) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.ents {
		if e.blk != nil && e.p == p && e.key == key && e.ver == ver {
			return e.blk
		}
	}
	return nil
}

func (c *blockCache) put(p edge.Priority, key, ver uint64, b *block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ents[c.next] = cacheEnt{p, key, ver, b}
	c.next = (c.next + 1) % len(c.ents)
}
