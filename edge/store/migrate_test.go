package store

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/zblock"
)

// A store written by the v1 layout (blocks of mixed priorities under 'b',
// an index under 'p', counters of raw bytes) opens as the same log in
// priority streams, and nothing of the old layout is left.
func TestMigrateV1(t *testing.T) {
	dir := t.TempDir()
	db, err := openBadger(badgerOptions(dir, edge.DiscardLogger(), 0))
	if err != nil {
		t.Fatal(err)
	}
	const epoch = 0x1234
	var in []edge.Event
	err = db.Update(func(txn *badger.Txn) error {
		var body []byte
		first := uint64(0)
		flush := func() error {
			if first == 0 {
				return nil
			}
			v := []byte{blockV1, 0}
			v = binary.AppendUvarint(v, uint64(len(body)))
			v = append(v, body...)
			k := binary.BigEndian.AppendUint64([]byte{pfxOldBlock}, first)
			body, first = body[:0], 0
			return txn.Set(k, v)
		}
		for seq := uint64(1); seq <= 500; seq++ {
			ev := edge.Reading("t", "temp", float64(seq), fmt.Sprintf("reading %d", seq))
			switch {
			case seq%7 == 0:
				ev = edge.Event{Kind: edge.KindAlert, Text: fmt.Sprint(seq), Alert: &edge.Alert{ID: fmt.Sprint(seq)}}
			case seq%5 == 0:
				ev = edge.StateChange("d", "c", "open", 1)
			}
			ev.Priority = edge.DefaultPriority(ev.Kind)
			ev.Epoch, ev.Seq = epoch, seq
			in = append(in, ev)
			if first == 0 {
				first = seq
			}
			body = zblock.AppendRecord(body, Encode(nil, &ev))
			if ev.Priority > edge.PriorityLow {
				k := append([]byte{pfxOldPrio, byte(ev.Priority)}, binary.BigEndian.AppendUint64(nil, seq)...)
				if err := txn.Set(k, nil); err != nil {
					return err
				}
			}
			if seq%150 == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if err := txn.Set(keyEpoch, binary.BigEndian.AppendUint64(nil, epoch)); err != nil {
			return err
		}
		old := []byte{1}
		for _, x := range []uint64{500, 123456, 0, 0, 0} {
			old = binary.AppendUvarint(old, x)
		}
		return txn.Set(keyCounters, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, recorded, err := schemaOf(db); n != 1 || recorded || err != nil {
		t.Fatalf("schema of the v1 store: %d (recorded %v), %v; want 1, not recorded", n, recorded, err)
	}
	db.Close()

	s := openT(t, Options{Dir: dir})
	if s.Schema() != SchemaVersion {
		t.Errorf("Schema() after migration = %d, want %d", s.Schema(), SchemaVersion)
	}
	if n, recorded, err := schemaOf(s.db); n != SchemaVersion || !recorded || err != nil {
		t.Errorf("schema after migration: %d (recorded %v), %v; want %d recorded", n, recorded, err, SchemaVersion)
	}
	st := s.Stats()
	if st.Epoch != epoch || st.LastSeq != 500 || st.Events != 500 || st.LiveBytes <= 0 || st.LiveBytes >= 123456 {
		t.Fatalf("after migration: %+v", st)
	}
	got, err := s.Read(1, 1000)
	if err != nil || len(got) != 500 {
		t.Fatalf("read: %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if ev.Seq != in[i].Seq || ev.Kind != in[i].Kind || ev.Text != in[i].Text || ev.Priority != in[i].Priority {
			t.Fatalf("event %d: got %+v, want %+v", i, ev, in[i])
		}
	}
	alerts, _ := s.ReadPriority(1, edge.PriorityAlert, 1000)
	if len(alerts) != 500/7 {
		t.Errorf("alerts after migration: %d, want %d", len(alerts), 500/7)
	}
	s.db.View(func(txn *badger.Txn) error {
		for _, pfx := range []byte{pfxOldBlock, pfxOldPrio} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfx}})
			if it.Rewind(); it.Valid() {
				t.Errorf("key %q of the old layout left", it.Item().Key())
			}
			it.Close()
		}
		return nil
	})
	if out, err := s.Append(t.Context(), edge.Reading("a", "b", 1, "")); err != nil || out[0].Seq != 501 {
		t.Fatalf("append after migration: %v %v", out, err)
	}
}

func schemaOf(db *badger.DB) (n int, recorded bool, err error) {
	err = db.View(func(txn *badger.Txn) error {
		var err error
		n, recorded, err = readSchema(txn)
		return err
	})
	return n, recorded, err
}
