// Package store is the gateway's durable event log and state store on
// Badger: group-committed appends stored as zstd blocks of events, one
// stream of blocks per priority (block.go, keys.go), named cursors,
// retention, a byte cap on disk that evicts low-priority events first and
// leaves gap records, and a reserve of free disk space that it defends the
// same way (disk.go).
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sync/semaphore"

	"github.com/edgegw/edgegw/edge"
)

// Defaults and bounds of Options.
const (
	DefaultCommitWait = 5 * time.Millisecond
	MaxCommitWait     = 100 * time.Millisecond
	DefaultHistory    = 168 * time.Hour
	DefaultGCInterval = 5 * time.Minute
	DefaultQueueSize  = 2048
)

// Options configures a Store.
type Options struct {
	// Dir is the Badger directory. Required.
	Dir string
	// CapBytes caps the store's size on disk, the figure Stats().Bytes
	// reports: the held events as stored (compressed blocks) plus Badger's
	// fixed files (write-ahead and value-log files). When a commit takes
	// the store past it, the oldest events of the lowest priority are
	// evicted down to 90% of it, and a gap record says which. 0 means no
	// cap.
	CapBytes int64
	// DiskReserve is the free space the store keeps on its filesystem, so
	// that Badger can always flush, compact and write its manifest: under
	// it the store evicts as it does at the cap. 0 means the larger of
	// 64 MiB and 5% of the filesystem, at most half of it; the least
	// accepted is MinDiskReserve (a smaller value is raised to it).
	DiskReserve int64
	// MemoryBudget bounds the store's memory: the Go heap's soft limit
	// (Badger's memtables and table builders live there), the events
	// waiting for a commit, Badger's caches and the table pages kept
	// mapped (memory.go). 0 means DefaultMemoryBudget (64 MiB); the least
	// is MinMemoryBudget.
	MemoryBudget int64
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
	// AppendAsync blocks (so may MemoryBudget/16 bytes of them). Default
	// 2048: at the disk's commit rate this bounds the append-to-durable
	// latency under overload.
	QueueSize int
	// MemoryLimit overrides the Go runtime's soft memory limit that Open
	// sets (debug.SetMemoryLimit) when the process has none yet (no
	// GOMEMLIMIT, no earlier call). 0 means 5/8 of MemoryBudget; negative
	// leaves the runtime alone. Badger's garbage (table builds,
	// iterators) otherwise grows the heap to several times what is live.
	MemoryLimit int64
	// Logger gets the store's and Badger's messages. Default: discard.
	Logger *slog.Logger
	// Judge stamps Time and ClockTrusted on events with a zero Time. Nil
	// means Clock's time, trusted.
	Judge *edge.ClockJudge
	// Clock is the store's time: commit waits, retention, the maintenance
	// schedule. Default edge.SystemClock{}.
	Clock edge.Clock
}

// counters are persisted in every commit, in the same transaction as the
// events they count, and with the outcome of every drop.
type counters struct {
	LastSeq     uint64
	Live        int64  // bytes of held blocks as stored (liveCost)
	Removed     uint64 // events deleted (evicted or past history)
	Evicted     uint64 // events evicted by the cap or the disk reserve
	GapRecords  uint64
	DiskEvicted uint64 // events evicted to keep the disk reserve (part of Evicted)
}

const countersV2 = 2

func (c counters) encode() []byte {
	b := []byte{countersV2}
	b = binary.AppendUvarint(b, c.LastSeq)
	b = binary.AppendUvarint(b, uint64(c.Live))
	b = binary.AppendUvarint(b, c.Removed)
	b = binary.AppendUvarint(b, c.Evicted)
	b = binary.AppendUvarint(b, c.GapRecords)
	return binary.AppendUvarint(b, c.DiskEvicted)
}

// decodeCounters reads counters; v1 counted raw bytes in Live, so the
// caller recounts it (stale).
func decodeCounters(b []byte) (c counters, stale bool, err error) {
	if len(b) == 0 || (b[0] != 1 && b[0] != countersV2) {
		return c, false, errors.New("bad counters record")
	}
	d := &decoder{b: b[1:]}
	c.LastSeq = d.uvarint()
	c.Live = int64(d.uvarint())
	c.Removed, c.Evicted, c.GapRecords = d.uvarint(), d.uvarint(), d.uvarint()
	if b[0] == countersV2 {
		c.DiskEvicted = d.uvarint()
	}
	return c, b[0] == 1, d.err
}

// liveCost is what a block counts in Live: its key and value as stored, and
// Badger's per-entry overhead in a table.
func liveCost(key, val int) int64 { return int64(key + val + 16) }

// Store is the durable event log. It implements edge.Log and edge.StateStore.
type Store struct {
	opts  Options
	log   *slog.Logger
	clock edge.Clock
	mem   memPlan
	disk  *diskGuard
	db    *badger.DB // replaced only under closeMu's write side (reopen); nil when unusable
	gen   uint64     // bumped when db is replaced (closeMu)
	epoch uint64

	closeMu  sync.RWMutex // held for reading by every operation on db
	closed   bool
	readOnly atomic.Bool  // db is open read-only: the disk was full at open
	shut     atomic.Bool  // closed, readable without closeMu (Wait)
	schema   atomic.Int32 // Schema
	dropMu   sync.RWMutex
	queue    chan *req
	queued   *semaphore.Weighted // bytes of events waiting for a commit
	delq     chan *req           // drop outcomes from maintenance, ahead of the queue
	stop     chan struct{}
	wg       sync.WaitGroup

	durable  atomic.Uint64 // newest durable seq: readers never go past it
	first    atomic.Uint64 // every seq below it is deleted
	notifyMu sync.Mutex
	notify   chan struct{}

	w          counters // writer-owned copy
	pubMu      sync.Mutex
	pub        counters // as of the last commit
	appended   atomic.Uint64
	commits    atomic.Uint64
	failedFull atomic.Uint64 // commits failed for lack of disk space
	capSignal  chan struct{}
	done       chan []*req // committed batches for the completer

	buckets  bucketCounts
	cache    blockCache
	maintMu  sync.Mutex // one drop at a time
	okLive   int64      // maintenance's: Live when the reserve was last met
	okSet    bool
	throttle *edge.LogThrottle
	sizeMu   sync.Mutex
	sizeAt   time.Time
	sizeDisk int64

	// The pager (pages.go): its wake-up, the bytes read from mapped
	// tables since it last looked, and the files its releases advised.
	pageSignal chan struct{}
	readBytes  atomic.Int64
	released   atomic.Uint64
}

// Open opens or creates the store in o.Dir and starts its writer and
// maintenance goroutines; Close stops them. Its errors wrap
// edge.ErrStoreOpen, or edge.ErrDiskFull when the store's filesystem has no
// room to create or open it even read-only. On a full disk it may open the
// store read-only (Stats().ReadOnly): reads work, appends are refused with
// edge.ErrDiskFull, and it reopens for writing once there is room.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("store: dir is required: %w", edge.ErrStoreOpen)
	}
	o = o.withDefaults()
	if o.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(o.MemoryLimit)
		o.Logger.Debug("go memory limit set", "bytes", o.MemoryLimit)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("store %q: %w: %w", o.Dir, edge.ErrStoreOpen, err)
	}
	mem := memoryPlan(o.MemoryBudget)
	s := &Store{
		opts:       o,
		log:        o.Logger,
		clock:      o.Clock,
		mem:        mem,
		disk:       newDiskGuard(o.Dir, o.DiskReserve, o.Clock, o.Logger),
		queue:      make(chan *req, o.QueueSize),
		queued:     semaphore.NewWeighted(mem.queueBytes),
		delq:       make(chan *req, 1),
		stop:       make(chan struct{}),
		notify:     make(chan struct{}),
		capSignal:  make(chan struct{}, 1),
		done:       make(chan []*req, 2),
		pageSignal: make(chan struct{}, 1),
		throttle:   &edge.LogThrottle{Log: o.Logger, Interval: time.Minute, Clock: o.Clock},
	}
	if err := s.openDB(); err != nil {
		s.disk.close()
		return nil, err
	}
	s.wg.Add(3)
	go s.writer()
	go s.completer()
	go s.maintain()
	if _, ok := mappedResident(); ok {
		s.wg.Add(1)
		go s.pager()
	}
	s.log.Info("store open", "dir", o.Dir, "epoch", fmt.Sprintf("%016x", s.epoch),
		"first_seq", s.first.Load(), "last_seq", s.w.LastSeq, "live_bytes", s.w.Live,
		"read_only", s.readOnly.Load(), "disk_free", s.disk.free.Load(), "disk_reserve", s.disk.reserveBytes())
	return s, nil
}

func (o Options) withDefaults() Options {
	switch {
	case o.CommitWait == 0:
		o.CommitWait = DefaultCommitWait
	case o.CommitWait < 0:
		o.CommitWait = 0
	}
	o.CommitWait = min(o.CommitWait, MaxCommitWait)
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
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	o.MemoryBudget = max(o.MemoryBudget, MinMemoryBudget)
	if o.MemoryLimit == 0 {
		o.MemoryLimit = memoryPlan(o.MemoryBudget).goLimit
	}
	if o.DiskReserve > 0 {
		o.DiskReserve = max(o.DiskReserve, MinDiskReserve)
	}
	return o
}

// openDB opens Badger for writing, or read-only when the disk has no room
// for the files a writable open makes, and loads the store's records.
func (s *Store) openDB() error {
	dir := s.opts.Dir
	_, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	fresh := errors.Is(err, os.ErrNotExist)
	released := false
	if s.disk.read(0) < workRoom {
		released = s.disk.release("not enough room to open the store") > 0
	}
	free := s.disk.read(0)
	if fresh && free < workRoom {
		return fmt.Errorf("create store in %q: %w: %d bytes free, at least %d needed", dir, edge.ErrDiskFull, free, workRoom)
	}
	opts := badgerOptions(dir, s.log, s.opts.MemoryBudget)
	db, err := openBadger(opts)
	if err != nil {
		if !fresh && (free < workRoom || isNoSpace(err)) {
			s.log.Warn("disk full: opening the store read-only", "dir", dir, "disk_free", free, "err", err)
			ro, rerr := openBadger(opts.WithReadOnly(true))
			if rerr != nil {
				return fmt.Errorf("open store in %q: %w: %d bytes free; read-only: %v; writable: %w", dir, edge.ErrDiskFull, free, rerr, err)
			}
			s.db = ro
			s.readOnly.Store(true)
			if err := s.load(); err != nil {
				ro.Close()
				return err
			}
			return nil
		}
		return fmt.Errorf("open store in %q: %w: %w", dir, edge.ErrStoreOpen, err)
	}
	s.db = db
	s.readOnly.Store(false)
	if err := s.load(); err != nil {
		db.Close()
		return err
	}
	if released {
		s.disk.holdBack()
	}
	s.disk.hold()
	return nil
}

// isNoSpace reports whether a Badger error came from a full filesystem.
// Badger flattens the errors it wraps into text, so this reads the text.
func isNoSpace(err error) bool {
	return err != nil && (errors.Is(err, errNoSpace) || strings.Contains(err.Error(), errNoSpace.Error()))
}

// load reads or creates the epoch and the counters, migrates an older
// layout, finishes a drop that a crash interrupted, and counts the held
// blocks.
func (s *Store) load() error {
	fail := func(what string, err error) error {
		return fmt.Errorf("store %q: %s: %w: %w", s.opts.Dir, what, edge.ErrStoreOpen, err)
	}
	if err := s.checkSchema(); err != nil {
		if errors.Is(err, ErrNewerSchema) {
			return fmt.Errorf("store %q: %w: %w", s.opts.Dir, err, edge.ErrStoreOpen)
		}
		return fail("schema", err)
	}
	if err := s.loadEpoch(); err != nil {
		return fail("epoch", err)
	}
	var stale bool
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keyCounters)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			s.w, stale, err = decodeCounters(v)
			return err
		})
	})
	if err != nil {
		return fail("counters", err)
	}
	if err := s.checkLayout(); err != nil {
		return fail("layout", err)
	}
	if s.readOnly.Load() {
		if err := s.checkMigrated(); err != nil {
			return fmt.Errorf("store %q: %w: %w", s.opts.Dir, edge.ErrDiskFull, err)
		}
	}
	if !s.readOnly.Load() {
		migrated, err := s.migrate()
		if err != nil {
			return fail("migrate to the priority streams", err)
		}
		stale = stale || migrated
		if err := s.writeSchema(); err != nil {
			return fail("record the schema", err)
		}
		if err := s.resumeDrop(); err != nil {
			return fail("finish an interrupted drop", err)
		}
	}
	if err := s.buckets.load(s.db); err != nil {
		return fail("count blocks", err)
	}
	if stale {
		s.w.Live = s.buckets.bytes()
	}
	s.pubMu.Lock()
	s.pub = s.w
	s.pubMu.Unlock()
	s.durable.Store(s.w.LastSeq)
	return s.refreshFirst()
}

// loadEpoch reads or makes the epoch. On a reopen (s.epoch set) it only
// checks it: appends read s.epoch without a lock.
func (s *Store) loadEpoch() error {
	set := func(e uint64) error {
		switch {
		case s.epoch == 0:
			s.epoch = e
		case s.epoch != e:
			return fmt.Errorf("epoch changed from %016x to %016x", s.epoch, e)
		}
		return nil
	}
	read := func(txn *badger.Txn) (bool, error) {
		it, err := txn.Get(keyEpoch)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return true, it.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("bad epoch record of %d bytes", len(v))
			}
			return set(binary.BigEndian.Uint64(v))
		})
	}
	if s.readOnly.Load() {
		return s.db.View(func(txn *badger.Txn) error {
			ok, err := read(txn)
			if err == nil && !ok {
				err = errors.New("no epoch (a store never written)")
			}
			return err
		})
	}
	return s.db.Update(func(txn *badger.Txn) error {
		if ok, err := read(txn); ok || err != nil {
			return err
		}
		var b [8]byte
		for binary.BigEndian.Uint64(b[:]) == 0 {
			if _, err := rand.Read(b[:]); err != nil {
				return fmt.Errorf("make epoch: %w", err)
			}
		}
		if err := set(binary.BigEndian.Uint64(b[:])); err != nil {
			return err
		}
		return txn.Set(keyEpoch, b[:])
	})
}

// checkLayout refuses the one-key-per-event layout of edgegw before blocks.
func (s *Store) checkLayout() error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxOldEv}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			return errors.New("it holds events in the one-key-per-event layout of edgegw before blocks; " +
				"move the directory away (its events are not read by this version)")
		}
		return nil
	})
}

// refreshFirst moves the first-held mark to the oldest event still held.
func (s *Store) refreshFirst() error {
	first := s.durable.Load() + 1
	err := s.db.View(func(txn *badger.Txn) error {
		for p := range numPrio {
			st := newStream(txn, edge.Priority(p), s.durable.Load())
			if k, ok := st.firstKey(); ok {
				first = min(first, k)
			}
			st.close()
		}
		return nil
	})
	s.first.Store(first)
	return err
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
	defer s.disk.close()
	if s.db == nil {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %q: %w", s.opts.Dir, err)
	}
	return nil
}

// Run waits until ctx ends or the store is closed. The store's maintenance
// (retention, cap, disk reserve, value-log GC) runs from Open to Close
// whether or not Run is called; Run exists so the gateway can hold it in
// its run group.
func (s *Store) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	return nil
}

// enter takes the read side of the close lock; it fails after Close, and
// while a reopen left no database (disk full).
func (s *Store) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return edge.ErrClosed
	}
	if s.db == nil {
		s.closeMu.RUnlock()
		return s.disk.errFull()
	}
	return nil
}

// reopen reopens a read-only store for writing once its filesystem has room
// again (maintenance, under maintMu).
func (s *Store) reopen() {
	if s.disk.read(0) < workRoom {
		return
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Warn("close read-only store", "err", err)
		}
		s.db = nil
	}
	s.gen++
	if err := s.openDB(); err != nil {
		s.log.Error("reopen store", "dir", s.opts.Dir, "err", err)
		return
	}
	if !s.readOnly.Load() {
		s.disk.full.Store(false)
		s.log.Warn("disk space returned: store reopened for writing", "dir", s.opts.Dir, "disk_free", s.disk.free.Load())
	}
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
	free := s.disk.read(time.Second)
	return edge.StoreStats{
		Epoch:       s.epoch,
		FirstSeq:    first,
		LastSeq:     c.LastSeq,
		Bytes:       s.diskBytes(),
		LiveBytes:   c.Live,
		CapBytes:    s.opts.CapBytes,
		Events:      c.LastSeq - c.Removed,
		Evicted:     c.Evicted,
		GapRecords:  c.GapRecords,
		Appended:    s.appended.Load(),
		Commits:     s.commits.Load(),
		DiskFree:    free,
		DiskTotal:   s.disk.total.Load(),
		DiskReserve: s.disk.reserveBytes(),
		DiskHeld:    s.disk.ballastBytes(),
		DiskFull:    s.disk.full.Load() || s.readOnly.Load(),
		ReadOnly:    s.readOnly.Load(),
		DiskEvicted: c.DiskEvicted,
		Refused:     s.disk.refused.Load(),
	}
}

// diskBytes sums the allocated sizes of Badger's files (tables, value log,
// write-ahead memtables), at most once a second; the ballast is not the
// store's. Badger's own db.Size() is only kept when its metrics are on,
// which costs memory on a small box.
func (s *Store) diskBytes() int64 {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	now := s.clock.Now()
	if d := now.Sub(s.sizeAt); d >= 0 && d < time.Second && !s.sizeAt.IsZero() {
		return s.sizeDisk
	}
	var n int64
	_ = filepath.WalkDir(s.opts.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ballastName {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fileBytes(fi)
		}
		return nil
	})
	s.sizeAt, s.sizeDisk = now, n
	return n
}

// forgetSize makes the next diskBytes walk the directory again.
func (s *Store) forgetSize() {
	s.sizeMu.Lock()
	s.sizeAt = time.Time{}
	s.sizeMu.Unlock()
}

var (
	_ edge.Log        = (*Store)(nil)
	_ edge.StateStore = (*Store)(nil)
)
