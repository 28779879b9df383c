package store

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// The schema of the store's layout. A release manifest names the schema its
// version writes and the oldest it opens (sync/wire.Manifest), so that a
// gateway never updates to a version that cannot read its log, nor rolls
// back to one that cannot read what the newer one wrote.
const (
	// SchemaVersion is the layout this build writes: one block stream per
	// priority (keys.go), records with the boot anchor (codec.go: boot id
	// and monotonic time, which builds of schema 2 do not decode). Schema 1
	// is the v1 layout of blocks of mixed priorities, which migrate.go
	// rewrites; schema 2 needs no rewrite (its records decode as they are),
	// only the new record.
	SchemaVersion = 3
	// ReadsSchema is the newest schema this build opens.
	ReadsSchema = 3
	// MinSchema is the oldest schema this build opens (by migrating it).
	MinSchema = 1
)

// ErrNewerSchema is the error of Open for a store written by a newer edgegw
// (its schema is above ReadsSchema). The store is left as it was.
var ErrNewerSchema = errors.New("store written by a newer edgegw")

// keySchema holds the schema as decimal digits. A store without it is of
// schema 1 when it holds keys of the v1 layout, else of schema 2.
var keySchema = []byte("m/schema")

// readSchema returns the store's schema, and whether it is recorded.
func readSchema(txn *badger.Txn) (int, bool, error) {
	it, err := txn.Get(keySchema)
	if errors.Is(err, badger.ErrKeyNotFound) {
		old, err := hasOldLayout(txn)
		if old {
			return 1, false, err
		}
		return 2, false, err
	}
	if err != nil {
		return 0, false, err
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 || len(v) > 9 {
		return 0, false, fmt.Errorf("bad schema record %q", v)
	}
	return n, true, nil
}

// hasOldLayout reports whether the store holds keys of the v1 layout.
func hasOldLayout(txn *badger.Txn) (bool, error) {
	for _, pfx := range []byte{pfxOldBlock, pfxOldPrio} {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfx}})
		it.Rewind()
		found := it.Valid()
		it.Close()
		if found {
			return true, nil
		}
	}
	return false, nil
}

// checkSchema reads the schema and refuses one this build cannot open,
// before anything is written.
func (s *Store) checkSchema() error {
	var n int
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		n, _, err = readSchema(txn)
		return err
	})
	switch {
	case err != nil:
		return err
	case n > ReadsSchema:
		return fmt.Errorf("%w: its schema is %d, this edgegw reads schemas %d to %d; "+
			"run the newer edgegw, or move the directory away (it was left untouched)", ErrNewerSchema, n, MinSchema, ReadsSchema)
	case n < MinSchema:
		return fmt.Errorf("its schema is %d, this edgegw reads schemas %d to %d", n, MinSchema, ReadsSchema)
	}
	s.schema.Store(int32(n))
	return nil
}

// writeSchema records SchemaVersion once the store has this layout (it was
// created or migrated).
func (s *Store) writeSchema() error {
	err := s.db.Update(func(txn *badger.Txn) error {
		n, recorded, err := readSchema(txn)
		if err != nil || recorded && n == SchemaVersion {
			return err
		}
		return txn.Set(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
	if err == nil {
		s.schema.Store(SchemaVersion)
	}
	return err
}

// Schema is the schema of the store's layout: SchemaVersion once it is
// open for writing (an older store is migrated), else what it holds.
func (s *Store) Schema() int { return int(s.schema.Load()) }
