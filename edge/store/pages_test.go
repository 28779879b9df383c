//go:build linux

package store

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

// Incompressible events written and read back past the budget's share of
// mapped pages make the pager release the store's table pages, and every
// event still reads back as written (a release drops pages from the
// process, never data).
func TestPagerReleasesTablePages(t *testing.T) {
	s := openT(t, Options{MemoryBudget: MinMemoryBudget, CommitWait: -1})
	rng := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		b := make([]byte, 400)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	var in []edge.Event
	for i := 0; i < 12000; i++ { // ~5 MiB, several memtable flushes
		ev := edge.Reading("t", "temp", float64(i), "")
		ev.Text = text()
		in = append(in, ev)
	}
	appendChunks(t, s, in, 500)
	next := uint64(1)
	for {
		evs, err := s.Read(next, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Seq != next || ev.Text != in[next-1].Text {
				t.Fatalf("read seq %d: got seq %d with another text, want the text appended", next, ev.Seq)
			}
			next++
		}
	}
	if next != uint64(len(in))+1 {
		t.Fatalf("read back %d events, want %d", next-1, len(in))
	}
	waitFor(t, "a page release", func() bool {
		s.pageKick()
		return s.released.Load() > 0
	})
	if _, err := s.Append(context.Background(), edge.Reading("t", "temp", 1, "")); err != nil {
		t.Fatalf("append after a release: %v", err)
	}
}
