// Package store is the gateway's durable event log and state store on
// Badger: group-committed appends stored as zstd blocks of events (block.go),
// named cursors, retention, a byte cap that evicts low-priority events first
// and leaves gap records.
package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
)

// Defaults and bounds of Options.
const (
	DefaultCommitWait = 5 * time.Millisecond
	MaxCommitWait     = 100 * time.Millisecond
	DefaultHistory    = 168 * time.Hour
	DefaultGCInterval = 5 * time.Minute
	DefaultQueueSize  = 2048
	// DefaultMemoryLimit is the Go soft memory limit Open sets when the
	// process has none (see Options.MemoryLimit).
	DefaultMemoryLimit = 40 << 20
)

// Options configures a Store.
type Options struct {
	// Dir is the Badger directory. Required.
	Dir string
	// CapBytes caps the live bytes of held events, counted uncompressed
	// (encoded records plus a key's worth each). 0 means no cap. On disk
	// the events take less (zstd blocks), plus the LSM and write-ahead
	// overhead (see Stats().Bytes).
	CapBytes int64
	// CommitWait bounds how long an event waits for others to share its
	// fsync, counted from when it was queued. 0 means DefaultCommitWait
	// (5ms); negative means no wait (what is queued commits at once); at
	// most 100ms.
	CommitWait time.Duration
	// History keeps events that every cursor has passed for this long.
	// Default 168h; negative deletes them as soon as all cursors passed.
	History time.Duration
	// GCInterval is how often retention and value-log GC run. Default 5m.
	GCInterval time.Duration
	// QueueSize is how many events may wait for a commit before
	// AppendAsync blocks. Default 4096: at the disk's commit rate this
	// bounds the append-to-durable latency under overload.
	QueueSize int
	// MemoryLimit is the Go runtime's soft memory limit (debug.SetMemoryLimit)
	// that Open sets when the process has none yet (no GOMEMLIMIT, no earlier
	// call). 0 means DefaultMemoryLimit (40 MiB); negative leaves the runtime
	// alone. Badger's garbage (table builds, iterators) otherwise grows the
	// heap to several times what is live on a small box.
	MemoryLimit int64
	// Logger gets the store's and Badger's messages. Default: discard.
	Logger *slog.Logger
	// Judge stamps Time and ClockTrusted on events with a zero Time. Nil
	// means the system clock, trusted.
	Judge *edge.ClockJudge
}

// Key space. Seqs are big-endian so keys sort in seq order.
const (
	pfxBlock  = 'b' // b + first held seq: a block of events (block.go)
	pfxOldEv  = 'e' // e + seq: one event per key, the layout before blocks
	pfxPrio   = 'p' // p + priority + seq, for priorities above Low
	pfxCursor = 'c' // c + name
	pfxState  = 's' // s + key
	pfxMeta   = 'm'
)

var (
	keyEpoch    = []byte("m/epoch")
	keyCounters = []byte("m/counters")
)

func prioKey(p edge.Priority, seq uint64) []byte {
	k := make([]byte, 10)
	k[0], k[1] = pfxPrio, byte(p)
	binary.BigEndian.PutUint64(k[2:], seq)
	return k
}

// recordCost is what one held event counts against the cap: its raw record
// and key, before compression, so the cap bounds the disk from above.
func recordCost(prio edge.Priority, recLen int) int64 {
	n := int64(9 + recLen)
	if prio > edge.PriorityLow {
		n += 10
	}
	return n
}

// counters are persisted in every commit, in the same transaction as the
// events and deletions they count.
type counters struct {
	LastSeq    uint64
	Live       int64  // live bytes: records + keys of held events
	Removed    uint64 // events deleted (evicted or past history)
	Evicted    uint64 // events evicted by the cap
	GapRecords uint64
}

func (c counters) encode() []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, c.LastSeq)
	b = binary.AppendUvarint(b, uint64(c.Live))
	b = binary.AppendUvarint(b, c.Removed)
	b = binary.AppendUvarint(b, c.Evicted)
	return binary.AppendUvarint(b, c.GapRecords)
}

func decodeCounters(b []byte) (counters, error) {
	var c counters
	if len(b) == 0 || b[0] != 1 {
		return c, errors.New("bad counters record")
	}
	d := &decoder{b: b[1:]}
	c.LastSeq = d.uvarint()
	c.Live = int64(d.uvarint())
	c.Removed, c.Evicted, c.GapRecords = d.uvarint(), d.uvarint(), d.uvarint()
	return c, d.err
}

// Store is the durable event log. It implements edge.Log and edge.StateStore.
type Store struct {
	opts  Options
	log   *slog.Logger
	db    *badger.DB
	epoch uint64

	closeMu sync.RWMutex // held for reading by every operation on db
	closed  bool
	shut    atomic.Bool // closed, readable without closeMu (Wait)
	queue   chan *req
	delq    chan *req // deletion plans from maintenance, ahead of the queue
	stop    chan struct{}
	wg      sync.WaitGroup

	durable  atomic.Uint64 // newest durable seq: readers never go past it
	first    atomic.Uint64 // every seq below it is deleted
	notifyMu sync.Mutex
	notify   chan struct{}

	w         counters // writer-owned copy
	pubMu     sync.Mutex
	pub       counters // as of the last commit
	appended  atomic.Uint64
	commits   atomic.Uint64
	capSignal chan struct{}
	done      chan []*req // committed batches for the completer

	cache    blockCache
	maintMu  sync.Mutex // one deletion plan at a time
	sizeMu   sync.Mutex
	sizeAt   time.Time
	sizeDisk int64
}

// Open opens or creates the store in o.Dir and starts its writer and
// maintenance goroutines; Close stops them.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: dir is required")
	}
	switch {
	case o.CommitWait == 0:
		o.CommitWait = DefaultCommitWait
	case o.CommitWait < 0:
		o.CommitWait = 0
	}
	if o.CommitWait > MaxCommitWait {
		o.CommitWait = MaxCommitWait
	}
	if o.History == 0 {
		o.History = DefaultHistory
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Logger == nil {
		o.Logger = edge.DiscardLogger()
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(o.MemoryLimit)
		o.Logger.Debug("go memory limit set", "bytes", o.MemoryLimit)
	}
	db, err := openBadger(badgerOptions(o.Dir, o.Logger))
	if err != nil {
		return nil, fmt.Errorf("open badger in %q: %w", o.Dir, err)
	}
	s := &Store{
		opts:      o,
		log:       o.Logger,
		db:        db,
		queue:     make(chan *req, o.QueueSize),
		delq:      make(chan *req, 1),
		stop:      make(chan struct{}),
		notify:    make(chan struct{}),
		capSignal: make(chan struct{}, 1),
		done:      make(chan []*req, 2),
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.wg.Add(3)
	go s.writer()
	go s.completer()
	go s.maintain()
	s.log.Info("store open", "dir", o.Dir, "epoch", fmt.Sprintf("%016x", s.epoch),
		"first_seq", s.first.Load(), "last_seq", s.w.LastSeq, "live_bytes", s.w.Live)
	return s, nil
}

// load reads or creates the epoch and the counters, and finds the first
// held event.
func (s *Store) load() error {
	err := s.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(keyEpoch)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			var b [8]byte
			for binary.BigEndian.Uint64(b[:]) == 0 {
				if _, err := rand.Read(b[:]); err != nil {
					return fmt.Errorf("make epoch: %w", err)
				}
			}
			s.epoch = binary.BigEndian.Uint64(b[:])
			return txn.Set(keyEpoch, b[:])
		case err != nil:
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("bad epoch record of %d bytes", len(v))
			}
			s.epoch = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store %q: epoch: %w", s.opts.Dir, err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keyCounters)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			s.w, err = decodeCounters(v)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("store %q: counters: %w", s.opts.Dir, err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxOldEv}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			return errors.New("it holds events in the one-key-per-event layout of edgegw before blocks; " +
				"move the directory away (its events are not read by this version)")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %q: %w", s.opts.Dir, err)
	}
	s.pub = s.w
	s.durable.Store(s.w.LastSeq)
	return s.refreshFirst(1)
}

// refreshFirst moves the first-held mark to the oldest event at or after
// from that is still held.
func (s *Store) refreshFirst(from uint64) error {
	if from == 0 {
		from = 1
	}
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlock}})
		defer it.Close()
		it.Seek(blockKey(from))
		if it.Valid() {
			s.first.Store(blockKeySeq(it.Item().Key()))
		} else {
			s.first.Store(s.durable.Load() + 1)
		}
		return nil
	})
}

// Epoch returns the store's epoch.
func (s *Store) Epoch() uint64 { return s.epoch }

// LastSeq returns the newest durable seq.
func (s *Store) LastSeq() uint64 { return s.durable.Load() }

// Wait returns a channel closed once an event with seq > after is durable
// (or the store is closed).
func (s *Store) Wait(after uint64) <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.durable.Load() > after || s.shut.Load() {
		return closedChan
	}
	return s.notify
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (s *Store) wake() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// Close drains the commit queue, stops the goroutines and closes Badger.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.shut.Store(true)
	close(s.queue)
	close(s.stop)
	s.closeMu.Unlock()
	s.wg.Wait()
	s.wake()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %q: %w", s.opts.Dir, err)
	}
	return nil
}

// Run waits until ctx ends or the store is closed. The store's maintenance
// (retention, cap, value-log GC) runs from Open to Close whether or not Run
// is called; Run exists so the gateway can hold it in its run group.
func (s *Store) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	return nil
}

// enter takes the read side of the close lock; it fails after Close.
func (s *Store) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return edge.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.closeMu.RUnlock() }

// Stats reports the store's figures.
func (s *Store) Stats() edge.StoreStats {
	s.pubMu.Lock()
	c := s.pub
	s.pubMu.Unlock()
	first := s.first.Load()
	if first > c.LastSeq {
		first = 0
	}
	return edge.StoreStats{
		Epoch:      s.epoch,
		FirstSeq:   first,
		LastSeq:    c.LastSeq,
		Bytes:      s.diskBytes(),
		LiveBytes:  c.Live,
		CapBytes:   s.opts.CapBytes,
		Events:     c.LastSeq - c.Removed,
		Evicted:    c.Evicted,
		GapRecords: c.GapRecords,
		Appended:   s.appended.Load(),
		Commits:    s.commits.Load(),
	}
}

// diskBytes sums the allocated sizes of Badger's files (tables, value log, write-ahead
// memtables), at most once a second. Badger's own db.Size() is only kept
// when its metrics are on, which costs memory on a small box.
func (s *Store) diskBytes() int64 {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	if time.Since(s.sizeAt) < time.Second && !s.sizeAt.IsZero() {
		return s.sizeDisk
	}
	var n int64
	_ = filepath.WalkDir(s.opts.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fileBytes(fi)
		}
		return nil
	})
	s.sizeAt, s.sizeDisk = time.Now(), n
	return n
}

var (
	_ edge.Log        = (*Store)(nil)
	_ edge.StateStore = (*Store)(nil)
)
