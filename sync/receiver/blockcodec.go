package receiver

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/internal/zblock"
	"github.com/edgegw/edgegw/sync/wire"
)

// The event block codec and the dedupe set, exported for other stores of
// this module (sync/receiver/jsstore) so that every store keeps events in
// one format (record.go).

// AppendRecord appends e's record to b (record.go's framing, without the
// length prefix: AppendBlockRecord adds it).
func AppendRecord(b []byte, e *wire.Event) ([]byte, error) { return appendRecord(b, e) }

// AppendBlockRecord appends a record, length-prefixed, to a block body.
func AppendBlockRecord(body, rec []byte) []byte { return zblock.AppendRecord(body, rec) }

// AppendBlock appends the compressed block of the n records of body.
func AppendBlock(b []byte, n int, gw string, received time.Time, body []byte) []byte {
	return appendBlock(b, n, gw, received.UnixMilli(), body)
}

// EventSize is the generous estimate of an event's stored size that the
// Badger store checks against its limit.
func EventSize(e *wire.Event) int { return eventSize(e) }

// WalkBlock decodes every event of a block, calling fn with its index and
// the event (no JSON: for readers that count or convert).
func WalkBlock(b []byte, fn func(i int, e *wire.Event) error) (n int, err error) {
	blk, err := readBlock(b)
	if err != nil {
		return 0, err
	}
	for j := uint64(0); j < blk.n; j++ {
		rec, err := blk.next()
		if err != nil {
			return 0, fmt.Errorf("event %d: %w", j, err)
		}
		e, err := decodeRecord(rec)
		if err != nil {
			return 0, fmt.Errorf("event %d: %w", j, err)
		}
		if err := fn(int(j), &e); err != nil {
			return 0, err
		}
	}
	return int(blk.n), nil
}

// DecodeBlock decodes every event of a block, calling fn with its index,
// the event and its JSON (wire.Event's encoding).
func DecodeBlock(b []byte, fn func(i int, e *wire.Event, js json.RawMessage) error) (gw string, received time.Time, n int, err error) {
	blk, err := readBlock(b)
	if err != nil {
		return "", time.Time{}, 0, err
	}
	for j := uint64(0); j < blk.n; j++ {
		rec, err := blk.next()
		if err != nil {
			return "", time.Time{}, 0, fmt.Errorf("event %d: %w", j, err)
		}
		e, err := decodeRecord(rec)
		if err != nil {
			return "", time.Time{}, 0, fmt.Errorf("event %d: %w", j, err)
		}
		js, err := json.Marshal(&e)
		if err != nil {
			return "", time.Time{}, 0, fmt.Errorf("event %d: %w", j, err)
		}
		if err := fn(int(j), &e, js); err != nil {
			return "", time.Time{}, 0, err
		}
	}
	return blk.gateway, blk.received, int(blk.n), nil
}

// SeqSet is the set of sequence numbers of one (gateway, epoch) stored so
// far, as sorted disjoint ranges: the dedupe index.
type SeqSet struct{ s seqSet }

// Has reports whether seq is in the set.
func (s *SeqSet) Has(seq uint64) bool { return s.s.has(seq) }

// Add adds seq.
func (s *SeqSet) Add(seq uint64) { s.s.add(seq) }

// Clone returns a copy.
func (s *SeqSet) Clone() *SeqSet { return &SeqSet{s: *s.s.clone()} }

// Ranges is the number of ranges.
func (s *SeqSet) Ranges() int { return len(s.s.r) }

// Count is the number of seqs in the set.
func (s *SeqSet) Count() uint64 {
	var n uint64
	for _, r := range s.s.r {
		n += r[1] - r[0] + 1
	}
	return n
}

// Encode returns the set's encoding.
func (s *SeqSet) Encode() []byte { return s.s.encode() }

// DecodeSeqSet decodes Encode's output.
func DecodeSeqSet(b []byte) (*SeqSet, error) {
	s, err := decodeSeqSet(b)
	if err != nil {
		return nil, err
	}
	return &SeqSet{s: *s}, nil
}
