//go:build linux

package z

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// A file made to be mapped holds its blocks: written through the map on a
// full disk, a sparse one would get SIGBUS (PATCHED.md).
func TestMappedFileIsAllocated(t *testing.T) {
	name := filepath.Join(t.TempDir(), "000001.mem")
	mf, err := OpenMmapFile(name, os.O_CREATE|os.O_RDWR, 4<<20)
	if err != NewFile {
		t.Fatalf("open: %v", err)
	}
	defer mf.Close(-1)
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Blocks * 512; got < 4<<20 {
		t.Fatalf("a 4 MiB mapped file holds %d bytes of blocks: it is sparse", got)
	}
	if err := mf.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	syscall.Stat(name, &st)
	if got := st.Blocks * 512; got < 8<<20 {
		t.Fatalf("grown to 8 MiB, the file holds %d bytes of blocks", got)
	}
}

// When the allocation fails for lack of space the handler is asked, and a
// file that could not be made is not left behind.
func TestNoSpaceHandler(t *testing.T) {
	dir := t.TempDir()
	var asked string
	SetNoSpaceHandler(func(name string, need int64) bool { asked = name; return false })
	defer SetNoSpaceHandler(nil)
	name := filepath.Join(dir, "000002.sst")
	// Larger than any test machine's disk: fallocate fails with ENOSPC
	// (or EFBIG on filesystems with a smaller file limit). A 32-bit int
	// holds no such size (the 386 run of this package).
	if strconv.IntSize < 64 {
		t.Skip("a size past any disk does not fit in a 32-bit int")
	}
	huge := uint64(1) << 62
	_, err := OpenMmapFile(name, os.O_CREATE|os.O_RDWR|os.O_EXCL, int(huge))
	if err == nil {
		t.Fatal("a 4 EiB file was allocated")
	}
	if asked != name && !errors.Is(err, syscall.EFBIG) {
		t.Errorf("handler asked for %q, want %q (err %v)", asked, name, err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("the file that could not be made is left: %v", err)
	}
}
