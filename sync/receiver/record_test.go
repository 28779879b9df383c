package receiver

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

func TestSeqSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var s seqSet
		want := map[uint64]bool{}
		for i := 0; i < 300; i++ {
			v := uint64(r.IntN(400))
			if round%2 == 0 {
				v = uint64(i) // mostly in order, the common case
				if r.IntN(5) == 0 {
					continue
				}
			}
			s.add(v)
			want[v] = true
		}
		for v := uint64(0); v < 420; v++ {
			if s.has(v) != want[v] {
				t.Fatalf("round %d: has(%d) = %v, want %v (ranges %v)", round, v, s.has(v), want[v], s.r)
			}
		}
		for i := 1; i < len(s.r); i++ {
			if s.r[i][0] <= s.r[i-1][1]+1 || s.r[i][0] > s.r[i][1] {
				t.Fatalf("ranges not sorted, disjoint and merged: %v", s.r)
			}
		}
		got, err := decodeSeqSet(s.encode())
		if err != nil || len(got.r) != len(s.r) {
			t.Fatalf("encode/decode: %v %v", got, err)
		}
		for i := range s.r {
			if got.r[i] != s.r[i] {
				t.Fatalf("encode/decode: got %v, want %v", got.r, s.r)
			}
		}
	}
	var s seqSet
	s.add(^uint64(0))
	s.add(^uint64(0) - 1)
	if !s.has(^uint64(0)) || !s.has(^uint64(0)-1) || len(s.r) != 1 {
		t.Errorf("max seq: %v", s.r)
	}
	if _, err := decodeSeqSet([]byte{0xff}); err == nil {
		t.Error("corrupt set decoded")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	on := true
	events := []wire.Event{
		{Epoch: 1 << 60, Seq: 7, Time: time.UnixMilli(1795932000123).UTC(), ClockTrusted: true, Kind: "reading", Priority: 0,
			Device: "d", Point: "p", Value: -3.25, Unit: "°C", Quality: 1},
		{Epoch: 2, Seq: 8, Time: time.UnixMilli(-62135596800000).UTC(), Kind: "status", Online: &on, Text: "back"},
		{Epoch: 2, Seq: 9, Kind: "alert", Priority: 3, Alert: &wire.Alert{ID: "a", State: "firing"},
			Gap: &wire.Gap{Epoch: 2, From: 1, To: 3, Count: 3, Reason: "x"}, Action: &wire.Action{Result: "ok"}},
		{Epoch: 2, Seq: 10, Kind: "state", Device: "door-1", Text: "open", Value: 1, Location: "cp07/3/2/301"},
		{Epoch: 2, Seq: 11, Kind: "alert", Device: "door-1", Location: "阳光/3号楼", Alert: &wire.Alert{ID: "b", State: "firing"}},
	}
	var block []byte
	for i := range events {
		rec, err := appendRecord(nil, &events[i])
		if err != nil {
			t.Fatal(err)
		}
		block = binary.AppendUvarint(block, uint64(len(rec)))
		block = append(block, rec...)
	}
	val := append(appendBlockHeader(nil, len(events), "gw-x", 1234), block...)
	compressed := appendBlock(nil, len(events), "gw-x", 1234, block)
	if compressed[0] != blockZstd {
		t.Fatalf("compressed block version %d", compressed[0])
	}
	for _, val := range [][]byte{val, compressed} {
		blk, err := readBlock(val)
		if err != nil || blk.n != uint64(len(events)) || blk.gateway != "gw-x" || blk.received.UnixMilli() != 1234 {
			t.Fatalf("block header: %+v %v", blk, err)
		}
		for i := range events {
			rec, err := blk.next()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			w := events[i]
			if !got.Time.Equal(w.Time) || got.Epoch != w.Epoch || got.Seq != w.Seq || got.Kind != w.Kind || got.Device != w.Device ||
				got.Value != w.Value || got.Unit != w.Unit || got.Quality != w.Quality || got.ClockTrusted != w.ClockTrusted || got.Location != w.Location ||
				(w.Online != nil) != (got.Online != nil) || (w.Alert != nil && *got.Alert != *w.Alert) || (w.Gap != nil && *got.Gap != *w.Gap) {
				t.Errorf("event %d: got %+v, want %+v", i, got, w)
			}
		}
	}
	bad := bytes.Clone(compressed)
	bad[len(bad)-1] ^= 0xff
	if b, err := readBlock(bad[:len(bad)-2]); err == nil {
		t.Errorf("truncated compressed block read: %+v", b)
	}
	if _, err := readBlock(val[:3]); err == nil {
		if b, _ := readBlock(val[:3]); b != nil {
			if _, err := b.next(); err == nil {
				t.Error("truncated block read")
			}
		}
	}
}

// TestRecordWithoutLocation: a record stored before events carried a
// location (flag 16 unset, nothing after the value or the ext) decodes
// with none, and today's encoder still writes it byte for byte.
func TestRecordWithoutLocation(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want wire.Event
	}{
		{"020780bc9cdec46800000005737461746506646f6f722d3107636f6e7461637400046f70656e000000000000f03f",
			wire.Event{Epoch: 2, Seq: 7, Time: time.UnixMilli(1795932000000).UTC(), Kind: "state", Device: "door-1", Point: "contact", Text: "open", Value: 1}},
		{"020880bc9cdec46808030005616c65727406646f6f722d3100000000000000000000004a" +
			"7b22616c657274223a7b226964223a2261222c2272756c65223a22222c227374617465223a22666972696e67222c227365766572697479223a22222c226d657373616765223a22227d7d",
			wire.Event{Epoch: 2, Seq: 8, Time: time.UnixMilli(1795932000000).UTC(), Kind: "alert", Priority: 3, Device: "door-1",
				Alert: &wire.Alert{ID: "a", State: "firing"}}},
	} {
		rec, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(rec)
		if err != nil {
			t.Fatalf("old record: %v", err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("got %+v, want %+v", got, tc.want)
		}
		again, _ := appendRecord(nil, &got)
		if hex.EncodeToString(again) != tc.hex {
			t.Errorf("re-encoded: got %x, want %s", again, tc.hex)
		}
	}
}

// TestManyChunks forces a batch across several transactions and blocks and
// checks cursors, dedupe and the gateway filter still hold.
func TestManyChunks(t *testing.T) {
	r := newRig(t, Options{})
	r.store.chunkBytes, r.store.chunkEntries = 4<<10, 3
	key2, _ := r.rcv.AddGateway("gw2")
	events := readings(4, 1, 2000)
	if br := r.postBatch(events); br.Stored != 2000 {
		t.Fatalf("got %+v", br)
	}
	body, _ := wire.GzipBatch(readings(5, 1, 300))
	r.do("POST", wire.PathBatches, "gw2", key2, body, nil)
	if br := r.postBatch(readings(4, 1500, 1000)); br.Stored != 499 || br.Duplicates != 501 {
		t.Fatalf("overlap: got %+v", br)
	}
	r.restart()
	r.store.chunkBytes, r.store.chunkEntries = 4<<10, 3
	if br := r.postBatch(readings(4, 2400, 200)); br.Stored != 100 || br.Duplicates != 100 {
		t.Fatalf("after restart: got %+v", br)
	}
	var after uint64
	seen := map[uint64]bool{}
	for {
		page, next, err := r.store.Events("gw1", after, 333)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page {
			e, _ := s.Decode()
			if s.Gateway != "gw1" || seen[e.Seq] || s.Cursor <= after {
				t.Fatalf("bad event %+v after %d", s, after)
			}
			seen[e.Seq] = true
		}
		if len(page) == 0 {
			break
		}
		after = next
	}
	if len(seen) != 2599 {
		t.Fatalf("got %d distinct gw1 events, want 2599", len(seen))
	}
	if lc := r.store.LastCursor(); lc != 2899 {
		t.Errorf("LastCursor %d, want 2899", lc)
	}
}
