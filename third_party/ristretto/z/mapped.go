/*
 * Patched into this copy of ristretto by edgegw (PATCHED.md): a registry
 * of the files mapped by OpenMmapFile, so an application can drop their
 * pages from its resident set.
 */

package z

import "sync"

// mapped holds every file mapped by OpenMmapFile with its name. Its lock
// also orders unmapping and remapping against ReleaseMappedPages, which
// must never advise on memory that is no longer a mapping of the file.
var mapped = struct {
	sync.Mutex
	files map[*MmapFile]string
}{files: map[*MmapFile]string{}}

func registerMapped(m *MmapFile, name string) {
	mapped.Lock()
	mapped.files[m] = name
	mapped.Unlock()
}

// ReleaseMappedPages drops from the process's page tables the pages of the
// mapped files whose name match accepts (madvise MADV_DONTNEED on Linux;
// a no-op elsewhere). The files' data stays in the page cache and is mapped
// again on the next access: this only stops a read of a large mapped file
// from counting in the process's resident memory until the file is closed.
// It returns how many files it advised.
func ReleaseMappedPages(match func(name string) bool) int {
	mapped.Lock()
	defer mapped.Unlock()
	n := 0
	for m, name := range mapped.files {
		if len(m.Data) > 0 && match(name) && dontNeed(m.Data) == nil {
			n++
		}
	}
	return n
}
