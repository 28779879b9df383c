//go:build linux

package z

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// residentFile returns the process's resident file-backed pages in bytes
// (/proc/self/statm, third field).
func residentFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * int64(os.Getpagesize())
}

// A release drops the pages of a mapped file from the resident set and
// loses nothing written through the map (PATCHED.md, "Mapped pages").
func TestReleaseMappedPages(t *testing.T) {
	const size = 8 << 20
	name := filepath.Join(t.TempDir(), "000001.sst")
	mf, err := OpenMmapFile(name, os.O_CREATE|os.O_RDWR, size)
	if err != NewFile {
		t.Fatalf("open: %v", err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	before := residentFile(t)
	copy(mf.Data, want) // every page dirty, none synced
	if got := residentFile(t) - before; got < size*3/4 {
		t.Fatalf("writing 8 MiB through the map made %d bytes resident, want about 8 MiB", got)
	}
	if n := ReleaseMappedPages(func(n string) bool { return n == name }); n != 1 {
		t.Fatalf("released %d files, want 1", n)
	}
	if got := residentFile(t) - before; got > size/4 {
		t.Errorf("after the release %d bytes of the file are still resident, want about 0", got)
	}
	if !bytes.Equal(mf.Data, want) {
		t.Fatal("the data read through the map after the release differs from what was written")
	}
	if n := ReleaseMappedPages(func(n string) bool { return n == name }); n != 1 {
		t.Fatalf("released %d files, want 1", n)
	}
	if err := mf.Close(-1); err != nil {
		t.Fatal(err)
	}
	if n := ReleaseMappedPages(func(string) bool { return true }); n != 0 {
		t.Errorf("a closed file was released (%d files)", n)
	}
	got, err := os.ReadFile(name)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the file on disk differs from what was written through the released map (err %v)", err)
	}
}

// Releases run while files are created, written, grown, shrunk, closed and
// deleted: the registry's lock must order every unmap and remap against a
// release. Run it under -race: without the lock in Truncate, Close or
// Delete, the race detector reports the release reading Data while it is
// replaced; without any lock, madvise could hit memory that is no longer
// the file's (a mapping reused by the Go heap, zeroed: a crash).
func TestReleaseMappedPagesConcurrent(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	var released sync.WaitGroup
	released.Add(1)
	go func() {
		defer released.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ReleaseMappedPages(func(n string) bool { return filepath.Dir(n) == dir })
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				name := filepath.Join(dir, fmt.Sprintf("%d-%d.sst", w, i))
				mf, err := OpenMmapFile(name, os.O_CREATE|os.O_RDWR|os.O_EXCL, 64<<10)
				if err != NewFile {
					t.Errorf("open %s: %v", name, err)
					return
				}
				fill := byte(i)
				for j := range mf.Data {
					mf.Data[j] = fill
				}
				if err := mf.Truncate(256 << 10); err != nil {
					t.Errorf("grow %s: %v", name, err)
					return
				}
				for j := 64 << 10; j < len(mf.Data); j++ {
					mf.Data[j] = fill
				}
				if err := mf.Truncate(128 << 10); err != nil {
					t.Errorf("shrink %s: %v", name, err)
					return
				}
				for j, b := range mf.Data {
					if b != fill {
						t.Errorf("%s: byte %d is %d, want %d", name, j, b, fill)
						return
					}
				}
				if i%2 == 0 {
					err = mf.Delete()
				} else {
					err = mf.Close(-1)
				}
				if err != nil {
					t.Errorf("close %s: %v", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	released.Wait()
}
