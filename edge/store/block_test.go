package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// sealed builds a stored block of evs with seqs from first on.
func sealed(first uint64, evs []edge.Event) []byte {
	var b blockBuf
	for i := range evs {
		evs[i].Epoch, evs[i].Seq = 7, first+uint64(i)
		b.add(evs[i].Seq, Encode(nil, &evs[i]))
	}
	return b.seal()
}

func TestBlockRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		text   func(i int) string
		wantS2 bool
	}{
		{"compressible", func(i int) string { return fmt.Sprintf("door %d of building 3 opened", i%5) }, true},
		{"incompressible", func(int) string {
			b := make([]byte, 600)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			return string(b)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := append(codecSamples(), codecSamples()...)
			for i := range evs {
				evs[i].Text = tc.text(i)
			}
			v := sealed(1000, evs)
			if got := v[1]&blockZstd != 0; got != tc.wantS2 {
				t.Errorf("compressed flag %v, want %v (block of %d bytes)", got, tc.wantS2, len(v))
			}
			blk, err := openBlock(edge.PriorityLow, 1000, v)
			if err != nil {
				t.Fatal(err)
			}
			h, err := readHead(1000, v)
			if err != nil || h.count != uint64(len(evs)) || h.last(1000) != blk.last() {
				t.Fatalf("header: %+v %v, want %d records up to %d", h, err, len(evs), blk.last())
			}
			if len(blk.recs) != len(evs) || blk.last() != 1000+uint64(len(evs))-1 {
				t.Fatalf("got %d records, last %d", len(blk.recs), blk.last())
			}
			for i, rec := range blk.recs {
				ev, err := Decode(rec)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Seq != evs[i].Seq || ev.Text != evs[i].Text || ev.Kind != evs[i].Kind {
					t.Fatalf("record %d: got %+v, want %+v", i, ev, evs[i])
				}
			}
			for _, seq := range []uint64{0, 1000, 1003, blk.last(), blk.last() + 1} {
				i := blk.find(seq)
				if i < len(blk.seqs) && blk.seqs[i] < seq || i > 0 && blk.seqs[i-1] >= seq {
					t.Errorf("find(%d) = %d", seq, i)
				}
			}
			// A block read under another key is refused: keys name the
			// first held seq.
			if _, err := openBlock(edge.PriorityLow, 999, v); err == nil {
				t.Error("block opened under the wrong key")
			}
		})
	}
}

// FuzzOpenBlock: bytes from disk never panic the block decoder, and
// whatever it accepts decodes record by record without panicking either.
func FuzzOpenBlock(f *testing.F) {
	evs := codecSamples()
	f.Add(uint64(5), sealed(5, evs))
	raw := sealed(5, evs[:2])
	f.Add(uint64(5), raw)
	f.Add(uint64(1), []byte{blockV2, blockZstd, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0})
	f.Add(uint64(1), []byte{blockV2, 0, 3, 1, 0, 0, 1, 2, 3})
	f.Add(uint64(1), []byte{blockV1, 0, 3, 1, 2, 3})
	f.Add(uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, key uint64, v []byte) {
		readHead(key, v)
		openBlockV1(key, v)
		blk, err := openBlock(edge.PriorityLow, key, v)
		if err != nil {
			return
		}
		for _, rec := range blk.recs {
			Decode(rec)
		}
	})
}

// Events straddling block boundaries read back the same from any seq, and
// ReadPriority finds the events of its streams.
func TestReadAcrossBlocks(t *testing.T) {
	s := openT(t, Options{})
	var in []edge.Event
	for i := 0; i < 3000; i++ {
		ev := edge.Reading(fmt.Sprintf("d%d", i%13), "p", float64(i), fmt.Sprintf("reading %d with some text to fill blocks", i))
		if i%97 == 0 {
			ev = edge.Event{Kind: edge.KindAlert, Text: fmt.Sprint(i), Alert: &edge.Alert{ID: fmt.Sprint(i), State: edge.AlertFiring}}
		}
		in = append(in, ev)
	}
	// Several commits, so several blocks per commit and partial blocks.
	for i := 0; i < len(in); i += 700 {
		if _, err := s.Append(context.Background(), in[i:min(i+700, len(in))]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []uint64{1, 2, 150, 151, 699, 700, 701, 1500, 2999, 3000} {
		evs, err := s.Read(from, 400)
		if err != nil {
			t.Fatal(err)
		}
		want := min(400, 3000-int(from)+1)
		if len(evs) != want {
			t.Fatalf("Read(%d): %d events, want %d", from, len(evs), want)
		}
		for j, ev := range evs {
			if ev.Seq != from+uint64(j) || ev.Text != in[ev.Seq-1].Text {
				t.Fatalf("Read(%d)[%d]: seq %d text %q", from, j, ev.Seq, ev.Text)
			}
		}
	}
	hi, err := s.ReadPriority(500, edge.PriorityAlert, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for i := 0; i < 3000; i += 97 {
		if uint64(i+1) >= 500 {
			want = append(want, uint64(i+1))
		}
	}
	if len(hi) != len(want) {
		t.Fatalf("ReadPriority: %d alerts, want %d", len(hi), len(want))
	}
	for j, ev := range hi {
		if ev.Seq != want[j] || ev.Kind != edge.KindAlert {
			t.Fatalf("ReadPriority[%d]: got seq %d kind %v, want %d", j, ev.Seq, ev.Kind, want[j])
		}
	}
}

// A directory written by the one-key-per-event layout is refused with a
// clear error instead of being read as empty.
func TestOpenRefusesOldLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := openBadger(badgerOptions(dir, edge.DiscardLogger(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte{pfxOldEv, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{codecV1})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "one-key-per-event layout") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open of an old-layout store: got %v", err)
	}
}

// An event too large for one commit is refused at once, by name, and the
// store goes on.
func TestAppendTooLarge(t *testing.T) {
	s := openT(t, Options{})
	big := edge.Reading("cam-3", "frame", 0, "")
	big.Text = strings.Repeat("z", MaxEventBytes)
	_, err := s.Append(context.Background(), big)
	if !errors.Is(err, ErrEventTooLarge) || !strings.Contains(err.Error(), `"cam-3"`) {
		t.Fatalf("append of a %d-byte event: got %v", MaxEventBytes, err)
	}
	if err := s.AppendAsync(big, nil); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("AppendAsync: got %v", err)
	}
	ok := edge.Reading("cam-3", "frame", 1, strings.Repeat("z", MaxEventBytes-200))
	if out, err := s.Append(context.Background(), ok); err != nil || out[0].Seq != 1 {
		t.Fatalf("append just under the limit: %v %v", out, err)
	}
}
