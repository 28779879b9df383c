package store

import (
	"os"
	"path/filepath"

	"github.com/edgegw/edgegw/edge"
	"testing"
)

// TestOpenAfterEmptyMemtableFile: a kill right after Badger created a new
// memtable file leaves it empty; the store must still open (Badger #2207).
func TestOpenAfterEmptyMemtableFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Append(t.Context(), edge.Reading("t1", "temp", 21.5, "C"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open with an empty memtable file left by a crash: %v", err)
	}
	defer s.Close()
	got, err := s.Read(1, 10)
	if err != nil || len(got) != 1 || got[0].Seq != evs[0].Seq {
		t.Fatalf("after reopen: got %v, %v; want the one event", got, err)
	}
}
