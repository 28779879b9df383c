package store

import (
	"encoding/binary"
	"errors"
	"fmt"

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
	var out []edge.Event
	err := s.db.View(func(txn *badger.Txn) error {
		opt := badger.IteratorOptions{Prefix: []byte{pfxEvent}, PrefetchValues: true, PrefetchSize: min(max, 64)}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(eventKey(from)); it.Valid() && len(out) < max; it.Next() {
			item := it.Item()
			seq := binary.BigEndian.Uint64(item.Key()[1:])
			if seq > last {
				break
			}
			ev, err := s.decodeItem(item, seq)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

func (s *Store) decodeItem(item *badger.Item, seq uint64) (edge.Event, error) {
	var ev edge.Event
	err := item.Value(func(v []byte) error {
		var err error
		ev, err = Decode(v)
		return err
	})
	if err != nil {
		return ev, fmt.Errorf("read event %d: %w", seq, err)
	}
	return ev, nil
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
			item, err := txn.Get(eventKey(bestSeq))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // deleted with its index entry in one transaction; cannot happen
			}
			if err != nil {
				return err
			}
			ev, err := s.decodeItem(item, bestSeq)
			if err != nil {
				return err
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
