// Not part of upstream ristretto: the guard of this copy's one-line patch
// (see ../PATCHED.md). It runs on every architecture; it fails without the
// patch only where int is 32 bits (GOARCH=386 natively, arm under qemu), which
// is why edgegw's test.sh runs it with GOARCH=386.

package z

import (
	"testing"
	"unsafe"
)

// TestAllocatorNoReuseAcrossBuffers: once its first buffer is full the
// allocator moves on to the next one, and must never hand out memory that
// an earlier allocation still holds. Upstream v2.2.0 stores the next
// position as uint64((bufIdx+1)<<32): with a 32-bit int the shift yields 0
// and the allocator starts over at offset 0 of its first buffer.
func TestAllocatorNoReuseAcrossBuffers(t *testing.T) {
	t.Logf("int is %d bits", unsafe.Sizeof(int(0))*8)
	a := NewAllocator(1024, "test")
	defer a.Release()
	const n, sz = 64, 256 // 16 KiB over buffers of 1, 2, 4, 8, 16 KiB
	live := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		b := a.Allocate(sz)
		for j := range b {
			b[j] = byte(i)
		}
		live = append(live, b)
	}
	for i, b := range live {
		for j, c := range b {
			if c != byte(i) {
				t.Fatalf("allocation %d of %d was overwritten at byte %d (holds %d): the allocator handed its memory out again", i, n, j, c)
			}
		}
	}
	if got, want := a.Size(), n*sz; got < want {
		t.Errorf("Size() = %d after %d allocations of %d bytes, want at least %d", got, n, sz, want)
	}
}
