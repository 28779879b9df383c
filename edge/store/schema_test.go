package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// dump is every key and value of the Badger store in dir, for comparing
// a store before and after an open that must not change it.
func dump(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := openBadger(badgerOptions(dir, edge.DiscardLogger(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// setRaw writes (or with v nil deletes) one key of the closed store in dir.
func setRaw(t *testing.T, dir string, k, v []byte) {
	t.Helper()
	db, err := openBadger(badgerOptions(dir, edge.DiscardLogger(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(txn *badger.Txn) error {
		if v == nil {
			return txn.Delete(k)
		}
		return txn.Set(k, v)
	}); err != nil {
		t.Fatal(err)
	}
}

// A new store records the schema it is written in.
func TestSchemaRecordedOnCreate(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	if got := s.Schema(); got != SchemaVersion {
		t.Errorf("Schema() = %d, want %d", got, SchemaVersion)
	}
	if _, err := s.Append(t.Context(), edge.Reading("t1", "temp", 1, "C")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, want := dump(t, dir)[string(keySchema)], fmt.Sprint(SchemaVersion); got != want {
		t.Errorf("schema record %q, want %q", got, want)
	}
}

// A store of this layout written before the schema was recorded is of
// schema 2 (readSchema), and opened for writing it records this build's.
func TestSchemaOfUnrecordedStore(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	s.Append(t.Context(), edge.Reading("t1", "temp", 1, "C"))
	s.Close()
	setRaw(t, dir, keySchema, nil)
	if _, ok := dump(t, dir)[string(keySchema)]; ok {
		t.Fatal("the schema record was not deleted")
	}
	s = openT(t, Options{Dir: dir})
	if got := s.Schema(); got != SchemaVersion {
		t.Errorf("Schema() = %d, want %d", got, SchemaVersion)
	}
	s.Close()
	if got, want := dump(t, dir)[string(keySchema)], fmt.Sprint(SchemaVersion); got != want {
		t.Errorf("schema record %q, want %q", got, want)
	}
}

// A store written by a newer edgegw (schema above ReadsSchema) is refused
// with ErrNewerSchema and an error naming both schemas, and left exactly as
// it was; the same store opens again once its schema is one this build
// reads.
func TestSchemaRefusesNewer(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	if _, err := s.Append(t.Context(), edge.Reading("t1", "temp", 1, "C"), edge.Reading("t1", "temp", 2, "C")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	newer := ReadsSchema + 1
	setRaw(t, dir, keySchema, []byte(fmt.Sprint(newer)))
	before := dump(t, dir)

	s2, err := Open(Options{Dir: dir})
	if err == nil {
		s2.Close()
		t.Fatal("a store of a newer schema opened")
	}
	if !errors.Is(err, ErrNewerSchema) || !errors.Is(err, edge.ErrStoreOpen) {
		t.Errorf("error %v: want ErrNewerSchema and edge.ErrStoreOpen", err)
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("schema is %d", newer), fmt.Sprintf("%d to %d", MinSchema, ReadsSchema), "newer edgegw", dir} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	after := dump(t, dir)
	if len(after) != len(before) {
		t.Errorf("the refused open changed the store: %d keys before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the refused open changed key %q", k)
		}
	}

	setRaw(t, dir, keySchema, []byte(fmt.Sprint(ReadsSchema)))
	s = openT(t, Options{Dir: dir})
	got, err := s.Read(1, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("after the schema is one this build reads: %d events, %v", len(got), err)
	}
}

// A damaged schema record fails the open instead of being guessed.
func TestSchemaBadRecord(t *testing.T) {
	dir := t.TempDir()
	openT(t, Options{Dir: dir}).Close()
	setRaw(t, dir, keySchema, []byte("two"))
	s, err := Open(Options{Dir: dir})
	if err == nil {
		s.Close()
		t.Fatal("opened with a bad schema record")
	}
	if !errors.Is(err, edge.ErrStoreOpen) || errors.Is(err, ErrNewerSchema) || !bytes.Contains([]byte(err.Error()), []byte("schema")) {
		t.Errorf("error %v: want edge.ErrStoreOpen naming the schema", err)
	}
}
