package edge

import (
	"context"
	"errors"
)

// Well-known cursor names.
const (
	CursorRules  = "rules"
	CursorUplink = "uplink"
)

// ErrClosed is returned by a Log or Sink after Close.
var ErrClosed = errors.New("closed")

// Log is the durable event log (edge/store implements it on Badger).
type Log interface {
	// Epoch is random, made once when the store is created.
	Epoch() uint64
	// Append stamps each event with (epoch, seq), group-commits them and
	// returns them once they are durable (fsynced).
	Append(ctx context.Context, evs ...Event) ([]Event, error)
	// AppendAsync queues ev for the next group commit and calls done (if not
	// nil) once it is durable or has failed. It blocks only while the commit
	// queue is full.
	AppendAsync(ev Event, done func(Event, error)) error
	// Read returns up to max events with seq >= from, in seq order.
	// Events that were evicted are skipped; the gap record says so.
	Read(from uint64, max int) ([]Event, error)
	// ReadPriority is Read restricted to events of priority >= min. It uses
	// an index, so it is cheap even with a large backlog of readings.
	ReadPriority(from uint64, min Priority, max int) ([]Event, error)
	// LastSeq is the seq of the newest durable event, 0 when empty.
	LastSeq() uint64
	// Wait returns a channel closed when an event with seq > after is durable.
	Wait(after uint64) <-chan struct{}
	// Cursor returns the named cursor: the seq of the next event its consumer
	// has not yet processed (1 for a new cursor).
	Cursor(name string) (uint64, error)
	// SetCursor durably moves a cursor. It refuses to move past LastSeq()+1.
	SetCursor(name string, next uint64) error
}

// StateStore is a small durable key/value space for component state: rule
// state, pending pulse deadlines, the last good config.
type StateStore interface {
	GetState(key string) ([]byte, error) // nil, nil when absent
	PutState(key string, val []byte) error
	DeleteState(key string) error
}

// StoreStats is what the status page and `edgegw status` show of the store.
type StoreStats struct {
	Epoch      uint64 `json:"epoch"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
	Bytes      int64  `json:"bytes"`      // the store's files on disk: what CapBytes limits
	LiveBytes  int64  `json:"live_bytes"` // held events as stored (compressed blocks), part of Bytes
	CapBytes   int64  `json:"cap_bytes"`  // configured cap, in bytes on disk
	Events     uint64 `json:"events"`     // events held now
	Evicted    uint64 `json:"evicted"`    // events evicted since the store was created (cap and disk reserve)
	GapRecords uint64 `json:"gap_records"`
	Appended   uint64 `json:"appended"` // events appended by this process
	Commits    uint64 `json:"commits"`  // group commits (fsyncs) by this process

	DiskFree    int64  `json:"disk_free"`    // bytes free on the store's filesystem
	DiskTotal   int64  `json:"disk_total"`   // size of the store's filesystem
	DiskReserve int64  `json:"disk_reserve"` // free space the store keeps: under it, it evicts
	DiskHeld    int64  `json:"disk_held"`    // part of the reserve held in a file, released when the disk fills
	DiskFull    bool   `json:"disk_full"`    // appends refused: no room on the disk even after eviction
	ReadOnly    bool   `json:"read_only"`    // opened read-only because the disk was full at start
	DiskEvicted uint64 `json:"disk_evicted"` // events evicted to keep the disk reserve (part of Evicted)
	Refused     uint64 `json:"refused"`      // appends refused for a full disk by this process
}

// Backlogger is implemented by a Log that can count what it still holds: the
// sync backlog counts the events still stored, not those evicted.
type Backlogger interface {
	// Held returns the number of events still held with seq >= from.
	Held(from uint64) uint64
}
