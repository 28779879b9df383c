package receiver

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"time"

	"github.com/edgegw/edgegw/internal/zblock"
	"github.com/edgegw/edgegw/sync/wire"
)

// Events are stored in blocks: the value of key e/<cursor of its first
// event> holds up to blockEvents consecutive events of one batch, so ingest
// writes one Badger entry per block instead of one per event.
//
//	block:  0x01 uvarint(n) str(gateway) varint(receivedMs) body
//	    or  0x02 uvarint(n) str(gateway) varint(receivedMs) zstd(body)
//	body:   n records in internal/zblock's framing (uvarint(len) record)
//	record: uvarint(epoch) uvarint(seq) varint(tsMs) flags prio q
//	        str(kind) str(dev) str(pt) str(unit) str(text) float64bits(v)
//	        [uvarint(len) extJSON, if flags&8] [str(location), if flags&16]
//	        [str(boot) uvarint(monoMs), if flags&32]
//	str:    uvarint(len) bytes
//
// flags: 1 clock trusted, 2 online given, 4 online, 8 has alert/gap/action,
// 16 has a location, 32 has a boot anchor. Records stored before events
// carried a location (a boot anchor) end after the ext (the location); a
// reader that does not know flag 16 (32) ignores what follows.
const (
	blockVersion = 1
	blockZstd    = 2 // the body is zstd-compressed (what ingest writes)
	blockEvents  = 256
)

type recordExt struct {
	Alert  *wire.Alert  `json:"alert,omitempty"`
	Gap    *wire.Gap    `json:"gap,omitempty"`
	Action *wire.Action `json:"action,omitempty"`
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBlockHeader(b []byte, n int, gw string, receivedMs int64) []byte {
	b = append(b, blockVersion)
	b = binary.AppendUvarint(b, uint64(n))
	b = appendStr(b, gw)
	return binary.AppendVarint(b, receivedMs)
}

// appendBlock appends a compressed block (version 2) of the n records in
// body. zstd shrinks the events 5-8x: fewer bytes to write and fsync, and
// less of Badger's value log mapped in memory.
func appendBlock(b []byte, n int, gw string, receivedMs int64, body []byte) []byte {
	start := len(b)
	b = appendBlockHeader(b, n, gw, receivedMs)
	b[start] = blockZstd
	return zblock.Compress(b, body)
}

func appendRecord(b []byte, e *wire.Event) ([]byte, error) {
	b = binary.AppendUvarint(b, e.Epoch)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Time.UnixMilli())
	var flags byte
	if e.ClockTrusted {
		flags |= 1
	}
	if e.Online != nil {
		flags |= 2
		if *e.Online {
			flags |= 4
		}
	}
	hasExt := e.Alert != nil || e.Gap != nil || e.Action != nil
	if hasExt {
		flags |= 8
	}
	if e.Location != "" {
		flags |= 16
	}
	if e.Boot != "" {
		flags |= 32
	}
	b = append(b, flags, e.Priority, e.Quality)
	b = appendStr(b, e.Kind)
	b = appendStr(b, e.Device)
	b = appendStr(b, e.Point)
	b = appendStr(b, e.Unit)
	b = appendStr(b, e.Text)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Value))
	if hasExt {
		js, err := json.Marshal(recordExt{e.Alert, e.Gap, e.Action})
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(js)))
		b = append(b, js...)
	}
	if e.Location != "" {
		b = appendStr(b, e.Location)
	}
	if e.Boot != "" {
		b = appendStr(b, e.Boot)
		b = binary.AppendUvarint(b, uint64(max(e.MonoMillis, 0)))
	}
	return b, nil
}

var errRecord = errors.New("corrupt event record")

type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errRecord, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errRecord, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bytes(n uint64) []byte {
	if uint64(len(r.b)) < n {
		r.err, r.b = errRecord, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) str() string { return string(r.bytes(r.uvarint())) }

// blockReader walks the records of a block.
type blockReader struct {
	recordReader
	n        uint64
	gateway  string
	received time.Time
}

func readBlock(b []byte) (*blockReader, error) {
	if len(b) < 1 || (b[0] != blockVersion && b[0] != blockZstd) {
		return nil, errRecord
	}
	r := &blockReader{recordReader: recordReader{b: b[1:]}}
	r.n = r.uvarint()
	r.gateway = r.str()
	r.received = time.UnixMilli(r.varint()).UTC()
	if r.err != nil {
		return nil, errRecord
	}
	if b[0] == blockZstd {
		var err error
		if r.b, err = zblock.Decompress(nil, r.b); err != nil {
			return nil, errRecord
		}
	}
	if r.n > uint64(len(r.b)) {
		return nil, errRecord
	}
	return r, nil
}

// next returns the next record's bytes.
func (r *blockReader) next() ([]byte, error) {
	rec, rest, ok := zblock.NextRecord(r.b)
	if !ok {
		r.err, r.b = errRecord, nil
		return nil, r.err
	}
	r.b = rest
	return rec, nil
}

func decodeRecord(b []byte) (e wire.Event, err error) {
	r := recordReader{b: b}
	e.Epoch = r.uvarint()
	e.Seq = r.uvarint()
	e.Time = time.UnixMilli(r.varint()).UTC()
	hdr := r.bytes(3)
	if r.err != nil {
		return e, r.err
	}
	flags := hdr[0]
	e.Priority, e.Quality = hdr[1], hdr[2]
	e.ClockTrusted = flags&1 != 0
	if flags&2 != 0 {
		e.Online = wire.BoolPtr(flags&4 != 0)
	}
	e.Kind, e.Device, e.Point, e.Unit, e.Text = r.str(), r.str(), r.str(), r.str(), r.str()
	if v := r.bytes(8); v != nil {
		e.Value = math.Float64frombits(binary.LittleEndian.Uint64(v))
	}
	if flags&8 != 0 {
		var x recordExt
		if js := r.bytes(r.uvarint()); r.err == nil {
			if err := json.Unmarshal(js, &x); err != nil {
				return e, errRecord
			}
		}
		e.Alert, e.Gap, e.Action = x.Alert, x.Gap, x.Action
	}
	if flags&16 != 0 {
		e.Location = r.str()
	}
	if flags&32 != 0 {
		e.Boot = r.str()
		ms := r.uvarint()
		if ms > math.MaxInt64 {
			return e, errRecord
		}
		e.MonoMillis = int64(ms)
	}
	return e, r.err
}

// seqSet is the set of sequence numbers of one (gateway, epoch) stored so
// far, as sorted, disjoint, non-adjacent inclusive ranges. Uploads are
// mostly in order, so it stays a handful of ranges; it is the dedupe index,
// persisted with the events it covers.
type seqSet struct{ r [][2]uint64 }

func (s *seqSet) find(seq uint64) int { // first range with to >= seq
	return sort.Search(len(s.r), func(i int) bool { return s.r[i][1] >= seq })
}

func (s *seqSet) has(seq uint64) bool {
	i := s.find(seq)
	return i < len(s.r) && s.r[i][0] <= seq
}

func (s *seqSet) add(seq uint64) {
	if n := len(s.r); n > 0 && s.r[n-1][1] != math.MaxUint64 && s.r[n-1][1]+1 == seq { // the common case: append
		s.r[n-1][1] = seq
		return
	}
	i := s.find(seq)
	if i < len(s.r) && s.r[i][0] <= seq {
		return
	}
	joinPrev := i > 0 && s.r[i-1][1]+1 == seq
	joinNext := i < len(s.r) && seq != math.MaxUint64 && s.r[i][0] == seq+1
	switch {
	case joinPrev && joinNext:
		s.r[i-1][1] = s.r[i][1]
		s.r = append(s.r[:i], s.r[i+1:]...)
	case joinPrev:
		s.r[i-1][1] = seq
	case joinNext:
		s.r[i][0] = seq
	default:
		s.r = append(s.r, [2]uint64{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = [2]uint64{seq, seq}
	}
}

func (s *seqSet) clone() *seqSet { return &seqSet{r: append([][2]uint64(nil), s.r...)} }

func (s *seqSet) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(s.r)))
	for _, r := range s.r {
		b = binary.AppendUvarint(b, r[0])
		b = binary.AppendUvarint(b, r[1]-r[0])
	}
	return b
}

func decodeSeqSet(b []byte) (*seqSet, error) {
	r := recordReader{b: b}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, errRecord
	}
	s := &seqSet{r: make([][2]uint64, 0, n)}
	for i := uint64(0); i < n && r.err == nil; i++ {
		from := r.uvarint()
		s.r = append(s.r, [2]uint64{from, from + r.uvarint()})
	}
	return s, r.err
}
