package zblock

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var body []byte
	var want [][]byte
	for i := 0; i < 300; i++ {
		rec := []byte(fmt.Sprintf("door b%d-u%d opened %d", i%4, i%24, i))
		if i == 7 {
			rec = nil // an empty record is a record
		}
		want = append(want, rec)
		body = AppendRecord(body, rec)
	}
	frame := Compress([]byte("head"), body)
	if !bytes.HasPrefix(frame, []byte("head")) || len(frame) >= len(body)/2 {
		t.Fatalf("frame of %d bytes for a body of %d", len(frame), len(body))
	}
	got, err := Decompress(nil, frame[4:])
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("decompress: %v, equal %v", err, bytes.Equal(got, body))
	}
	for i, w := range want {
		rec, rest, ok := NextRecord(got)
		if !ok || !bytes.Equal(rec, w) {
			t.Fatalf("record %d: got %q ok %v, want %q", i, rec, ok, w)
		}
		got = rest
	}
	if len(got) != 0 {
		t.Fatalf("%d bytes left", len(got))
	}
}

func TestCorrupt(t *testing.T) {
	if _, err := Decompress(nil, []byte{1, 2, 3, 4, 5}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decompress of garbage: %v", err)
	}
	for _, b := range [][]byte{{}, {0x80}, {5, 1, 2}} {
		if _, _, ok := NextRecord(b); ok {
			t.Errorf("NextRecord(%v) accepted", b)
		}
	}
}

func FuzzNextRecord(f *testing.F) {
	f.Add(AppendRecord(nil, []byte("abc")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			_, rest, ok := NextRecord(b)
			if !ok {
				return
			}
			if len(rest) >= len(b) {
				t.Fatal("no progress")
			}
			b = rest
		}
	})
}
