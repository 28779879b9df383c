package store

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2/z"
)

// TestAllocatorReuse guards the ristretto z.Allocator bug that corrupted
// Badger tables on 32-bit (GOARCH=arm): when its first buffer was full,
// Allocate set its index to uint64((bufIdx+1)<<32) with bufIdx an int, which
// is 0 on 32-bit, so later allocations reused memory that table builders
// still held (tables lost keys after flushes and compactions). Badger's
// table builder allocates from this allocator.
func TestAllocatorReuse(t *testing.T) {
	a := z.NewAllocator(1024, "test")
	defer a.Release()
	var bufs [][]byte
	for i := 0; i < 8; i++ {
		b := a.Allocate(512)
		for j := range b {
			b[j] = byte(i + 1)
		}
		bufs = append(bufs, b)
	}
	for i, b := range bufs {
		for _, c := range b {
			if c != byte(i+1) {
				t.Fatalf("allocation %d (at %p, int is %d bits) was handed out again and overwritten: got %d, want %d",
					i, unsafe.Pointer(&b[0]), strconv.IntSize, c, i+1)
			}
		}
	}
}
