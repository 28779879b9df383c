package store

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// migrate rewrites a store of the v1 layout (blocks of mixed priorities
// under 'b' + seq, and an index of the priorities above Low under 'p') into
// one stream of blocks per priority, then drops the old keys. It is safe to
// run again after a crash: the new blocks' keys and contents follow from
// the old blocks, so a second run writes the same.
func (s *Store) migrate() (bool, error) {
	var old, index bool
	err := s.db.View(func(txn *badger.Txn) error {
		for _, pfx := range []byte{pfxOldBlock, pfxOldPrio} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfx}})
			it.Rewind()
			found := it.Valid()
			it.Close()
			if pfx == pfxOldBlock {
				old = found
			} else {
				index = found
			}
		}
		return nil
	})
	if err != nil || (!old && !index) {
		return false, err
	}
	if old {
		s.log.Warn("migrating the store to one block stream per priority", "dir", s.opts.Dir)
		if err := s.migrateBlocks(); err != nil {
			return false, err
		}
	}
	if err := s.db.DropPrefix([]byte{pfxOldBlock}, []byte{pfxOldPrio}); err != nil {
		return false, fmt.Errorf("drop the old layout: %w", err)
	}
	return true, nil
}

func (s *Store) migrateBlocks() error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxOldBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != 9 {
				continue
			}
			key := binary.BigEndian.Uint64(k[1:])
			var blk *block
			if err := item.Value(func(v []byte) error {
				var err error
				blk, err = openBlockV1(key, v)
				return err
			}); err != nil {
				return err
			}
			var bufs [numPrio]blockBuf
			for i, rec := range blk.recs {
				p, _ := recordPriority(rec)
				p = min(p, edge.PriorityAlert)
				bufs[p].add(blk.seqs[i], rec)
			}
			for p := range bufs {
				if bufs[p].n == 0 {
					continue
				}
				if err := wb.Set(blockKey(edge.Priority(p), bufs[p].first), bufs[p].seal()); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	s.log.Info("store migrated", "blocks", n)
	return nil
}

// checkMigrated fails for a store of the v1 layout, which a read-only open
// cannot migrate.
func (s *Store) checkMigrated() error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxOldBlock}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			return fmt.Errorf("its events need migrating to this version's layout, and the disk has no room for it")
		}
		return nil
	})
}
