package store

import (
	"path/filepath"

	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger maps its tables and write-ahead files into memory (v4 has no
// option to read them any other way), and every page of a mapped file that
// was written (each table a flush or a compaction builds) or read stays in
// the process's resident memory until the file is closed: with
// incompressible events, 110 MiB of tables left ~130 MiB of file pages
// resident (`edgebench store --random`, docs/hardening.md §8). The pages
// are the kernel's page cache either way; the pager drops them from the
// process's page tables (madvise MADV_DONTNEED, through the patched
// ristretto's registry of mapped files, third_party/ristretto/PATCHED.md)
// once more than the budget's share (memPlan.mapped) is resident, so the
// next access maps them again from the cache (a minor fault, no disk read).
// Dirty pages of a shared mapping stay dirty in the page cache: nothing
// written is lost.
//
// The pager has no timer of its own: the writer kicks it after each commit
// (flushes and compactions follow from commits), the maintenance pass every
// second (compactions that outlive the commits), and reads once they have
// read the budget's share.

// pageKick asks the pager to look at the resident file pages; it never
// blocks.
func (s *Store) pageKick() {
	select {
	case s.pageSignal <- struct{}{}:
	default:
	}
}

// pager releases the store's mapped table pages when more than the
// budget's share of file pages is resident. It runs from Open to Close, on
// Linux only (mappedResident).
func (s *Store) pager() {
	defer s.wg.Done()
	// floor is what stays resident after a release: the binary's own pages
	// and other files' (the store cannot release them).
	floor, _ := mappedResident()
	for {
		select {
		case <-s.stop:
			return
		case <-s.pageSignal:
		}
		read := s.readBytes.Swap(0)
		n, _ := mappedResident()
		if n <= floor+s.mem.mapped && read <= s.mem.mapped {
			continue
		}
		s.releasePages()
		if n, ok := mappedResident(); ok {
			floor = n
		}
	}
}

// readMapped counts bytes read from mapped tables; past the budget's share
// the pager is kicked.
func (s *Store) readMapped(n int) {
	if s.readBytes.Add(int64(n)) > s.mem.mapped {
		s.pageKick()
	}
}

// releasePages drops the resident pages of the tables and write-ahead files
// in the store's directory. The registry's lock keeps Badger from
// unmapping or remapping a file while it is advised.
func (s *Store) releasePages() {
	dir := absDir(s.disk.dir)
	n := z.ReleaseMappedPages(func(name string) bool {
		ext := filepath.Ext(name)
		return (ext == ".sst" || ext == ".mem") && absDir(filepath.Dir(name)) == dir
	})
	s.released.Add(uint64(n))
}
