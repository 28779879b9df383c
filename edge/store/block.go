package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/zblock"
)

// Events are stored in blocks: one Badger value holds the encoded records
// of up to maxBlockRaw bytes of consecutive events of one priority,
// zstd-compressed. Badger's cost is per key (skiplist insert, write-ahead
// entry, table index entry, compaction merge), so one key per ~150 events
// instead of one per event is what lets a 2-core box group-commit well above
// 100k events/s; the compression (readings of one compound repeat device
// ids, points and units) keeps the memtables, the tables and their mapped
// pages small.
//
// Each priority is its own stream of blocks (keys.go), so the oldest
// readings can be evicted by dropping whole key ranges (Badger's
// DropPrefix, which deletes whole tables) instead of deleting or rewriting
// blocks one by one: deletions in an LSM tree only free space once a
// compaction merges them with the data, and the compaction that does it
// rewrote the whole bottom level (twice the store's size on disk at peak).
// A block is written once, by one group commit, and never rewritten, so
// its records span at most one commit's seqs (maxCommitEvents).

// Block layout (v2):
//
//	[0]    blockV2
//	[1]    flags (blockZstd: the body is one zstd frame)
//	uvarint raw body length
//	uvarint records
//	uvarint last seq - first seq
//	uvarint unix seconds of the last record's time (0: none)
//	body:  records in seq order, in internal/zblock's framing (the
//	       receiver's blocks use the same framing and compression)
//
// The header is never compressed, so eviction, retention and the backlog
// count read it without decompressing. v1 blocks (blockV1: no counts, mixed
// priorities under 'b' keys) are only read to migrate them (migrate.go).
const (
	blockV1   = 0xB1
	blockV2   = 0xB2
	blockZstd = 1 << 0
)

const (
	// maxBlockRaw closes a block once its raw body reaches it.
	maxBlockRaw = 32 << 10
	// maxBlockDecoded bounds what a block may claim to decompress to, so a
	// corrupt value cannot ask for gigabytes.
	maxBlockDecoded = 4 << 20
)

// blockBuf collects the records of one block.
type blockBuf struct {
	first, last uint64
	n           int
	lastTime    int64 // unix seconds of the last record with a time
	raw         []byte
}

func (b *blockBuf) add(seq uint64, rec []byte) {
	if b.n == 0 {
		b.first = seq
	}
	b.n++
	b.last = seq
	if t := recordTime(rec); !t.IsZero() {
		b.lastTime = max(b.lastTime, t.Unix())
	}
	b.raw = zblock.AppendRecord(b.raw, rec)
}

func (b *blockBuf) reset() { *b = blockBuf{raw: b.raw[:0]} }

// seal returns the stored form of the block: compressed when that saves at
// least an eighth.
func (b *blockBuf) seal() []byte {
	head := make([]byte, 2, 6*binary.MaxVarintLen64+len(b.raw)/2)
	head[0] = blockV2
	head = binary.AppendUvarint(head, uint64(len(b.raw)))
	head = binary.AppendUvarint(head, uint64(b.n))
	head = binary.AppendUvarint(head, b.last-b.first)
	head = binary.AppendUvarint(head, uint64(max(b.lastTime, 0)))
	n := len(head)
	out := zblock.Compress(head, b.raw)
	if len(out)-n < len(b.raw)-len(b.raw)/8 {
		out[1] = blockZstd
		return out
	}
	return append(out[:n], b.raw...)
}

// blockHead is what a v2 header says, read without touching the body.
type blockHead struct {
	flags    byte
	rawLen   uint64
	count    uint64
	span     uint64 // last seq - first seq
	lastTime int64  // unix seconds, 0 when no record has a time
	body     int    // offset of the body
}

func readHead(key uint64, v []byte) (blockHead, error) {
	var h blockHead
	if len(v) < 6 || v[0] != blockV2 {
		return h, fmt.Errorf("%w: block %d: bad header", ErrCorrupt, key)
	}
	h.flags = v[1]
	off := 2
	var vals [4]uint64
	for i := range vals {
		x, n := binary.Uvarint(v[off:])
		if n <= 0 {
			return h, fmt.Errorf("%w: block %d: bad header", ErrCorrupt, key)
		}
		vals[i], off = x, off+n
	}
	h.rawLen, h.count, h.span = vals[0], vals[1], vals[2]
	h.lastTime = int64(min(vals[3], 1<<62))
	h.body = off
	if h.rawLen > maxBlockDecoded || h.flags&^blockZstd != 0 || h.count == 0 || h.count > h.rawLen {
		return h, fmt.Errorf("%w: block %d: bad body length, count or flags", ErrCorrupt, key)
	}
	return h, nil
}

// last is the seq of the block's last record.
func (h blockHead) last(key uint64) uint64 { return key + h.span }

// older reports whether every record of the block is older than cutoff
// (a block without times is old).
func (h blockHead) older(cutoff time.Time) bool {
	return h.lastTime == 0 || time.Unix(h.lastTime, 0).Before(cutoff)
}

// block is a decoded block: its records in seq order.
type block struct {
	prio edge.Priority
	key  uint64 // seq of its first record
	seqs []uint64
	recs [][]byte // slices of one decompressed body
}

// openBlock decodes a stored v2 block of priority p. It never panics on
// bad input, and the block it returns does not alias v.
func openBlock(p edge.Priority, key uint64, v []byte) (*block, error) {
	h, err := readHead(key, v)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(key, h.flags, h.rawLen, v[h.body:])
	if err != nil {
		return nil, err
	}
	if uint64(len(b.recs)) != h.count || b.last() != h.last(key) {
		return nil, fmt.Errorf("%w: block %d: %d records up to %d, header says %d up to %d",
			ErrCorrupt, key, len(b.recs), b.last(), h.count, h.last(key))
	}
	b.prio = p
	return b, nil
}

// openBlockV1 decodes a block of the v1 layout (migrate.go).
func openBlockV1(key uint64, v []byte) (*block, error) {
	if len(v) < 3 || v[0] != blockV1 {
		return nil, fmt.Errorf("%w: v1 block %d: bad header", ErrCorrupt, key)
	}
	rawLen, n := binary.Uvarint(v[2:])
	if n <= 0 {
		return nil, fmt.Errorf("%w: v1 block %d: bad header", ErrCorrupt, key)
	}
	return decodeBody(key, v[1], rawLen, v[2+n:])
}

func decodeBody(key uint64, flags byte, rawLen uint64, body []byte) (*block, error) {
	bad := func(f string, a ...any) (*block, error) {
		return nil, fmt.Errorf("%w: block %d: %s", ErrCorrupt, key, fmt.Sprintf(f, a...))
	}
	if rawLen > maxBlockDecoded || flags&^blockZstd != 0 {
		return bad("bad body length or flags")
	}
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
		if len(rec) < headerLen || !knownVersion(rec[offVersion]) {
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
