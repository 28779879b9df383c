package jsstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// A message of the events stream holds a chunk of one batch for one
// (gateway, epoch):
//
//	body:  0x01 uvarint(len(set)) set block
//
// set is the cumulative set of seqs stored for the (gateway, epoch),
// this message included (receiver.SeqSet's encoding): the compare-and-set
// state of exactly-once (ingest.go). block is the receiver's compressed
// event block (sync/receiver/record.go). Headers are informative.
const (
	bodyVersion = 1

	HeaderGateway     = "Edgegw-Gateway"      // gateway id
	HeaderEpoch       = "Edgegw-Epoch"        // decimal
	HeaderPath        = "Edgegw-Path"         // district/street/committee/compound codes
	HeaderFirstSeq    = "Edgegw-First-Seq"    // lowest seq in the message
	HeaderLastSeq     = "Edgegw-Last-Seq"     // highest seq in the message
	HeaderCount       = "Edgegw-Count"        // events in the message
	HeaderStoredCount = "Edgegw-Stored-Count" // events stored for (gateway, epoch) so far
	HeaderAlerts      = "Edgegw-Alerts"       // alert events in the message
)

var errBody = errors.New("corrupt events message")

func encodeBody(set *receiver.SeqSet, block []byte) []byte {
	enc := set.Encode()
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(enc)+len(block))
	b = append(b, bodyVersion)
	b = binary.AppendUvarint(b, uint64(len(enc)))
	b = append(b, enc...)
	return append(b, block...)
}

// splitBody returns the encoded set and the block of a message body.
func splitBody(b []byte) (set, block []byte, err error) {
	if len(b) < 2 || b[0] != bodyVersion {
		return nil, nil, errBody
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, errBody
	}
	start := 1 + k
	return b[start : start+int(n)], b[start+int(n):], nil
}

// Batch is one decoded message of the events stream.
type Batch struct {
	StreamSeq uint64    // the message's sequence in the stream
	Subject   string    // its subject
	Gateway   string    // gateway id
	Path      string    // the gateway's place when stored (each event's own, with its building, unit and household, is in Events)
	Epoch     uint64    // the events' epoch
	Received  time.Time // when the central received the batch
	// Events, in the order stored; Cursor is StreamSeq<<16 | index+1.
	Events []receiver.StoredEvent
}

// Cursor is the cursor of event i (0-based) of message seq.
func Cursor(seq uint64, i int) uint64 { return seq<<16 | uint64(i+1) }

// DecodeBatch decodes a message of the events stream.
func DecodeBatch(subject string, seq uint64, data []byte) (*Batch, error) {
	path, gw, epoch, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	_, block, err := splitBody(data)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	b := &Batch{StreamSeq: seq, Subject: subject, Gateway: gw, Path: path, Epoch: epoch}
	_, recv, _, err := receiver.DecodeBlock(block, func(i int, e *wire.Event, js json.RawMessage) error {
		se := receiver.StoredEvent{Cursor: Cursor(seq, i), Gateway: gw, Path: path, Event: js}
		if e.Location != "" {
			se.Locate(path, e.Location)
		}
		b.Events = append(b.Events, se)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	b.Received = recv
	for i := range b.Events {
		b.Events[i].Received = recv
	}
	return b, nil
}

// decodeSet returns the stored set of a message body.
func decodeSet(data []byte) (*receiver.SeqSet, error) {
	set, _, err := splitBody(data)
	if err != nil {
		return nil, err
	}
	return receiver.DecodeSeqSet(set)
}

// WalkEvents calls fn with every event of a message of the events stream,
// without the JSON of DecodeBatch.
func WalkEvents(data []byte, fn func(e *wire.Event) error) (int, error) {
	_, block, err := splitBody(data)
	if err != nil {
		return 0, err
	}
	return receiver.WalkBlock(block, func(_ int, e *wire.Event) error { return fn(e) })
}
