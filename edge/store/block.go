package store

import (
	"encoding/binary"
	"fmt"

	"github.com/edgegw/edgegw/internal/zblock"
)

// Events are stored in blocks: one Badger value holds the encoded records
// of up to maxBlockRaw bytes of consecutive events, zstd-compressed, under
// the key of the block's first held seq. Badger's cost is per key (skiplist
// insert, write-ahead entry, table index entry, compaction merge), so one
// key per ~150 events instead of one per event is what lets a 2-core box
// group-commit well above 100k events/s; the compression (readings of one
// compound repeat device ids, points and units) keeps the memtables, the
// tables and their mmapped pages small.
//
// Removing events from a block (eviction, retention) rewrites it without
// them; a block whose first event goes moves to the key of its new first
// seq, so the first block's key is always the store's first held seq.

// Block layout (v1):
//
//	[0]    blockV1
//	[1]    flags (blockZstd: the body is one zstd frame)
//	uvarint raw body length
//	body:  records in seq order, in internal/zblock's framing (the
//	       receiver's blocks use the same framing and compression)
const (
	blockV1   = 0xB1
	blockZstd = 1 << 0
)

const (
	// maxBlockRaw closes a block once its raw body reaches it.
	maxBlockRaw = 32 << 10
	// maxBlockDecoded bounds what a block may claim to decompress to, so a
	// corrupt value cannot ask for gigabytes.
	maxBlockDecoded = 4 << 20
)

func blockKey(first uint64) []byte {
	k := make([]byte, 9)
	k[0] = pfxBlock
	binary.BigEndian.PutUint64(k[1:], first)
	return k
}

func blockKeySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[1:]) }

// blockBuf collects the records of one block.
type blockBuf struct {
	first uint64
	n     int
	raw   []byte
}

func (b *blockBuf) add(seq uint64, rec []byte) {
	if b.n == 0 {
		b.first = seq
	}
	b.n++
	b.raw = zblock.AppendRecord(b.raw, rec)
}

func (b *blockBuf) reset() { b.n, b.first, b.raw = 0, 0, b.raw[:0] }

// sealBlock returns the stored form of a raw body: compressed when that
// saves at least an eighth.
func sealBlock(raw []byte) []byte {
	head := make([]byte, 2, 2+binary.MaxVarintLen64+len(raw)/2)
	head[0] = blockV1
	head = binary.AppendUvarint(head, uint64(len(raw)))
	n := len(head)
	out := zblock.Compress(head, raw)
	if len(out)-n < len(raw)-len(raw)/8 {
		out[1] = blockZstd
		return out
	}
	return append(out[:n], raw...)
}

// block is a decoded block: its records in seq order.
type block struct {
	key  uint64 // seq of the key it was read under
	seqs []uint64
	recs [][]byte // slices of one decompressed body
}

// openBlock decodes a stored block. It never panics on bad input, and the
// block it returns does not alias v.
func openBlock(key uint64, v []byte) (*block, error) {
	bad := func(f string, a ...any) (*block, error) {
		return nil, fmt.Errorf("%w: block %d: %s", ErrCorrupt, key, fmt.Sprintf(f, a...))
	}
	if len(v) < 3 || v[0] != blockV1 {
		return bad("bad header")
	}
	flags := v[1]
	rawLen, n := binary.Uvarint(v[2:])
	if n <= 0 || rawLen > maxBlockDecoded || flags&^blockZstd != 0 {
		return bad("bad body length or flags")
	}
	body := v[2+n:]
	if flags&blockZstd != 0 {
		raw, err := zblock.Decompress(make([]byte, 0, rawLen), body)
		if err != nil {
			return bad("decompress: %v", err)
		}
		if uint64(len(raw)) != rawLen {
			return bad("body decompressed to %d bytes, header says %d", len(raw), rawLen)
		}
		body = raw
	} else if uint64(len(body)) != rawLen {
		return bad("body of %d bytes, header says %d", len(body), rawLen)
	} else {
		body = append([]byte(nil), body...) // v is only valid in Badger's callback
	}
	b := &block{key: key}
	var prev uint64
	for len(body) > 0 {
		rec, rest, ok := zblock.NextRecord(body)
		if !ok {
			return bad("record %d overruns the block", len(b.recs))
		}
		body = rest
		if len(rec) < headerLen || rec[offVersion] != codecV1 {
			return bad("record %d: bad header", len(b.recs))
		}
		seq := binary.BigEndian.Uint64(rec[offSeq:])
		if seq <= prev || (len(b.recs) == 0 && seq != key) {
			return bad("record %d: seq %d out of order", len(b.recs), seq)
		}
		prev = seq
		b.seqs = append(b.seqs, seq)
		b.recs = append(b.recs, rec)
	}
	if len(b.recs) == 0 {
		return bad("no records")
	}
	return b, nil
}

// find returns the index of the first record with seq >= seq.
func (b *block) find(seq uint64) int {
	lo, hi := 0, len(b.seqs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b.seqs[m] < seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (b *block) last() uint64 { return b.seqs[len(b.seqs)-1] }
