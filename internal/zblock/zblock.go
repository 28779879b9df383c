// Package zblock is the block format shared by the gateway's event store
// and the central receiver: records, each prefixed by its length, in a body
// compressed as one zstd frame at the fastest level. Both write one Badger
// value per block instead of one per event, and the compression keeps what
// they write, fsync and mmap small.
package zblock

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MaxDecoded bounds what a frame may decompress to, so a corrupt value
// cannot ask for gigabytes.
const MaxDecoded = 64 << 20

// window is the zstd window: blocks are tens of KiB.
const window = 64 << 10

// ErrCorrupt is returned for a frame or a body that does not decode.
var ErrCorrupt = errors.New("corrupt block")

// One encoder and one decoder for the process; EncodeAll and DecodeAll are
// safe for concurrent use.
var (
	encoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(MaxDecoded), zstd.WithDecoderMaxWindow(1<<20))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// Compress appends the zstd frame of body to dst.
func Compress(dst, body []byte) []byte { return encoder().EncodeAll(body, dst) }

// Decompress appends the body of a frame made by Compress to dst.
func Decompress(dst, frame []byte) ([]byte, error) {
	out, err := decoder().DecodeAll(frame, dst)
	if err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	return out, nil
}

// AppendRecord appends rec to body, prefixed by its length.
func AppendRecord(body, rec []byte) []byte {
	body = binary.AppendUvarint(body, uint64(len(rec)))
	return append(body, rec...)
}

// NextRecord splits the first record off body. ok is false when body does
// not start with a whole record.
func NextRecord(body []byte) (rec, rest []byte, ok bool) {
	l, n := binary.Uvarint(body)
	if n <= 0 || l > uint64(len(body)-n) {
		return nil, nil, false
	}
	end := n + int(l)
	return body[n:end], body[end:], true
}
