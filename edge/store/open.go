package store

import (
	"errors"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// openBadger opens Badger, working around a crash-recovery bug of Badger
// v4 (dgraph-io/badger#2207): a process killed right after Badger created a
// new memtable file leaves an empty .mem file behind, and the next Open
// fails with z.NewFile ("Create a new file") although nothing is wrong; a
// second Open succeeds. Any other error is returned as it is.
func openBadger(o badger.Options) (*badger.DB, error) {
	db, err := badger.Open(o)
	if err != nil && (errors.Is(err, z.NewFile) || strings.Contains(err.Error(), z.NewFile.Error())) {
		db, err = badger.Open(o)
	}
	return db, err
}
