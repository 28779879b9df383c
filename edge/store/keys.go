package store

import (
	"encoding/binary"

	"github.com/edgegw/edgegw/edge"
)

// Key space.
//
// Blocks live under 'B' + bucket (6 bytes) + priority (1) + low (2 bytes),
// where bucket and low are the high 48 and low 16 bits of the block's
// first seq. Within a bucket of 65,536 seqs each priority's blocks are one
// contiguous run, so:
//   - the blocks of one priority, taken bucket by bucket, are in seq order
//     (reads merge the four streams, read.go);
//   - a memtable's new blocks of every priority sit in the newest bucket, so
//     the tables Badger flushes overlap only the newest data below them and
//     compactions stay small, whatever the mix of priorities;
//   - the oldest blocks of a priority are a union of key prefixes (a whole
//     bucket of that priority, or 256 seqs of it), which Badger's
//     DropPrefix removes by deleting whole tables (maint.go).
const (
	pfxBlock  = 'B'
	pfxCursor = 'c' // c + name
	pfxState  = 's' // s + key
	pfxMeta   = 'm'

	// The layouts before this one (migrate.go).
	pfxOldBlock = 'b' // b + first seq: a v1 block of mixed priorities
	pfxOldPrio  = 'p' // p + priority + seq: v1's index of priorities above Low
	pfxOldEv    = 'e' // e + seq: one event per key, the layout before blocks
)

const (
	bucketBits = 16
	// dropUnit is the finest range of seqs one drop prefix covers.
	dropUnit = 256
	// numPrio is the number of priorities, hence of block streams.
	numPrio = int(edge.PriorityAlert) + 1
)

var (
	keyEpoch    = []byte("m/epoch")
	keyCounters = []byte("m/counters")
	keyDrop     = []byte("m/drop") // a drop in progress (maint.go)
)

// blockKey is the key of the block of priority p whose first seq is seq.
func blockKey(p edge.Priority, seq uint64) []byte {
	k := make([]byte, 10)
	k[0] = pfxBlock
	putBucket(k[1:7], seq>>bucketBits)
	k[7] = byte(p)
	binary.BigEndian.PutUint16(k[8:], uint16(seq))
	return k
}

func putBucket(dst []byte, b uint64) {
	var full [8]byte
	binary.BigEndian.PutUint64(full[:], b)
	copy(dst, full[2:])
}

func getBucket(src []byte) uint64 {
	var full [8]byte
	copy(full[2:], src[:6])
	return binary.BigEndian.Uint64(full[:])
}

// parseBlockKey splits a block key; ok is false for anything else.
func parseBlockKey(k []byte) (p edge.Priority, seq uint64, ok bool) {
	if len(k) != 10 || k[0] != pfxBlock || int(k[7]) >= numPrio {
		return 0, 0, false
	}
	return edge.Priority(k[7]), getBucket(k[1:7])<<bucketBits | uint64(binary.BigEndian.Uint16(k[8:])), true
}

// bucketPrefix is the prefix of every block of priority p in bucket b.
func bucketPrefix(p edge.Priority, b uint64) []byte {
	k := make([]byte, 8)
	k[0] = pfxBlock
	putBucket(k[1:7], b)
	k[7] = byte(p)
	return k
}

// dropPrefixes returns the key prefixes that cover exactly the blocks of
// priority p with a first seq in [from, to), where to is a multiple of
// dropUnit; from is rounded down to its bucket. Whole buckets take one
// prefix each, and the last partial bucket one per dropUnit seqs. Buckets
// without blocks are left out when has says so (has may be nil).
func dropPrefixes(p edge.Priority, from, to uint64, has func(bucket uint64) bool) [][]byte {
	var out [][]byte
	last := to >> bucketBits
	for b := from >> bucketBits; b < last; b++ {
		if has == nil || has(b) {
			out = append(out, bucketPrefix(p, b))
		}
	}
	if rest := (to & (1<<bucketBits - 1)) / dropUnit; rest > 0 && (has == nil || has(last)) {
		base := bucketPrefix(p, last)
		for hi := uint64(0); hi < rest; hi++ {
			out = append(out, append(append([]byte(nil), base...), byte(hi)))
		}
	}
	return out
}

func cursorKey(name string) []byte { return append([]byte{pfxCursor}, name...) }

func stateKey(key string) []byte { return append([]byte{pfxState}, key...) }
