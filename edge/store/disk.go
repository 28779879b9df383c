package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2/z"

	"github.com/edgegw/edgegw/edge"
)

// A full disk is a degraded state, never a crash. Badger writes every file
// through shared memory maps; on a full filesystem a write to a page of a
// sparse file has no block to land on and the kernel sends SIGBUS, which no
// Go code can recover from. The patched ristretto (third_party, PATCHED.md)
// allocates every file Badger maps before it maps it, so a full disk makes
// the file's creation fail instead. What is left is to never let Badger
// reach that point, because some of its failures are fatal (a write that
// needs a new memtable it cannot create ends the process in log.Fatal):
//
//   - the store keeps a reserve of free space (Options.DiskReserve) and
//     evicts its own events before the free space drops under it;
//   - part of the reserve is held as a ballast file, so another process that
//     fills the disk cannot take it; it is released when the store needs
//     room to work (open, evict, compact) and made again once there is room;
//   - no write reaches Badger while the free space is under minWrite: the
//     writer fails the commit with edge.ErrDiskFull, appends are refused
//     (diskFull), and they resume once space returns.

// Sizes of Badger's files, from badgerOptions; they set how much room it
// needs to keep working.
const (
	memFileBytes = 2 * memTableBytes // a memtable's write-ahead file
	// minWrite: room for a memtable rotation, a flush and some slack. Below
	// it nothing is written to Badger.
	minWrite = 3 * memFileBytes
	// workRoom: what eviction needs besides (Badger's DropPrefix flushes the
	// memtables, compacts level 0 into the base level and rewrites the
	// tables at the edges of what it drops); also the ballast's size.
	workRoom = minWrite + baseLevelBytes + 2<<20
	// fixedBytes is what Badger's files take besides the tables in steady
	// state: a memtable's write-ahead file, the value log's file and the
	// discard stats. The cap counts it.
	fixedBytes = memFileBytes + 2*vlogFileBytes + 1<<20
	// DefaultDiskReserveMin is the least the default reserve keeps free.
	DefaultDiskReserveMin = 64 << 20
	// MinDiskReserve is the smallest reserve Options.DiskReserve may ask for.
	MinDiskReserve = 2 * workRoom
)

// ballastName is the file that holds part of the reserve, in the store dir.
const ballastName = "edgegw-reserve"

// errNoRoom is wrapped with edge.ErrDiskFull by what refuses writes.
var errNoRoom = errors.New("no room on the store's filesystem")

// defaultReserve is the reserve for a filesystem of total bytes: the larger
// of 64 MiB and 5% of it, but at most half of it.
func defaultReserve(total int64) int64 {
	r := max(DefaultDiskReserveMin, total/20)
	return min(r, total/2)
}

// diskGuard watches the free space of the store's filesystem and holds the
// ballast.
type diskGuard struct {
	dir     string
	clock   edge.Clock
	log     *slog.Logger
	reserve int64 // configured; 0 until the filesystem's size is known

	free, total atomic.Int64
	full        atomic.Bool   // appends refused: no room even after eviction
	refused     atomic.Uint64 // appends refused while full
	written     atomic.Int64  // bytes committed since free was read

	mu      sync.Mutex
	at      time.Time // when free was read
	ballast int64     // size of the ballast file, 0 when released
}

func newDiskGuard(dir string, reserve int64, clock edge.Clock, log *slog.Logger) *diskGuard {
	d := &diskGuard{dir: absDir(dir), clock: clock, log: log, reserve: reserve}
	if fi, err := os.Stat(d.ballastPath()); err == nil {
		d.ballast = fileBytes(fi)
	}
	guards.Store(d.dir, d)
	return d
}

func absDir(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return filepath.Clean(dir)
}

// close forgets the guard (Store.Close).
func (d *diskGuard) close() { guards.CompareAndDelete(d.dir, d) }

func (d *diskGuard) ballastPath() string { return filepath.Join(d.dir, ballastName) }

// read refreshes free and total from the filesystem when the last reading
// is older than maxAge, and returns free.
func (d *diskGuard) read(maxAge time.Duration) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readLocked(maxAge)
}

func (d *diskGuard) readLocked(maxAge time.Duration) int64 {
	now := d.clock.Now()
	if !d.at.IsZero() && now.Sub(d.at) < maxAge && now.Sub(d.at) >= 0 {
		return d.free.Load()
	}
	free, total, err := diskSpace(d.dir)
	if err != nil {
		// Without a reading, assume room: a store on a filesystem that
		// cannot say must still work.
		d.log.Debug("free space unknown", "dir", d.dir, "err", err)
		free, total = 1<<62, 1<<62
	}
	d.free.Store(free)
	d.total.Store(total)
	d.written.Store(0)
	d.at = now
	if d.reserve == 0 {
		d.reserve = defaultReserve(total)
	}
	return free
}

// grew counts n bytes committed and reports whether maintenance should look
// at the disk again: after 1 MiB, or after a quarter of what is left above
// the reserve.
func (d *diskGuard) grew(n int64) bool {
	w := d.written.Add(n)
	room := d.free.Load() + d.ballastBytes() - d.reserveBytes()
	return w >= min(1<<20, max(64<<10, room/4))
}

// reserveBytes is the reserve in force.
func (d *diskGuard) reserveBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readLocked(time.Hour)
	return d.reserve
}

// ballastBytes is the ballast's size now.
func (d *diskGuard) ballastBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ballast
}

// guards maps a store's directory to its diskGuard, for onNoSpace.
var guards sync.Map

func init() { z.SetNoSpaceHandler(onNoSpace) }

// onNoSpace is called by the patched ristretto when Badger cannot allocate
// a file it maps (a memtable, a table, a value log) for lack of space:
// Badger ends the process when it cannot make a memtable, so the ballast of
// the store that owns the file gives up what the file needs, at the moment
// it needs it.
func onNoSpace(name string, need int64) bool {
	g, ok := guards.Load(absDir(filepath.Dir(name)))
	if !ok {
		return false
	}
	return g.(*diskGuard).give(need + 1<<20)
}

// give shrinks the ballast by n bytes (all of it when it is smaller) and
// reports whether it had any to give.
func (d *diskGuard) give(n int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ballast == 0 {
		return false
	}
	n = min(n, d.ballast)
	var err error
	if n == d.ballast {
		err = os.Remove(d.ballastPath())
	} else {
		err = os.Truncate(d.ballastPath(), d.ballast-n)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Error("cannot release the disk reserve file", "file", d.ballastPath(), "err", err)
		return false
	}
	d.ballast -= n
	d.at = time.Time{}
	d.log.Warn("disk reserve file released", "why", "the filesystem is full and Badger needs room", "bytes", n, "left", d.ballast)
	return true
}

// release deletes the ballast, so Badger has room to work; it returns the
// bytes freed.
func (d *diskGuard) release(why string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ballast == 0 {
		return 0
	}
	if err := os.Remove(d.ballastPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Error("cannot release the disk reserve file", "file", d.ballastPath(), "err", err)
		return 0
	}
	n := d.ballast
	d.ballast = 0
	d.at = time.Time{}
	d.log.Warn("disk reserve file released", "why", why, "bytes", n)
	return n
}

// hold makes the ballast, or tops it up, when the reserve is free: the
// ballast is part of it.
func (d *diskGuard) hold() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ballast >= workRoom || d.readLocked(0) < max(d.reserve, 2*workRoom) {
		return
	}
	if err := allocateFile(d.ballastPath(), workRoom); err != nil {
		os.Remove(d.ballastPath())
		d.log.Warn("cannot make the disk reserve file", "file", d.ballastPath(), "err", err)
		return
	}
	d.ballast = workRoom
	d.at = time.Time{}
}

// fullMark: under it appends are refused (maintenance decides, setFull).
const fullMark = minWrite + memFileBytes

// holdBack makes the ballast again after an open that needed its room, as
// large as it can be while leaving Badger room to write (minWrite): the
// room was for Badger to open, not for new events on a disk another
// process filled, so the store stays under the full mark (appends refused)
// until space returns, as it would have had it not restarted.
func (d *diskGuard) holdBack() {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(workRoom, d.readLocked(0)-(fullMark-1<<20))
	if d.ballast > 0 || n < 1<<20 {
		return
	}
	if err := allocateFile(d.ballastPath(), n); err != nil {
		os.Remove(d.ballastPath())
		d.log.Warn("cannot make the disk reserve file", "file", d.ballastPath(), "err", err)
		return
	}
	d.ballast = n
	d.at = time.Time{}
}

// writable reports whether a write may reach Badger now: there is room for
// a memtable rotation. The ballast is not released for writes: it is the
// room the store needs to free space (doDrop) and to open.
func (d *diskGuard) writable() bool {
	return d.read(10*time.Millisecond) >= minWrite
}

// errFull is the error appends get while the disk is full.
func (d *diskGuard) errFull() error {
	return fmt.Errorf("store %q: %w: %w (%d bytes free)", d.dir, edge.ErrDiskFull, errNoRoom, d.free.Load())
}

// RoomFor says whether n more bytes may be written under dir (a folder
// beside the store, such as the update directory, on the same filesystem
// or another) without cutting into the store's reserve: the free space of
// dir's filesystem less n must stay above the reserve and the room the
// store needs to work. Otherwise the error wraps edge.ErrDiskFull and
// gives the figures. Events come first: a release download that does not
// fit is refused rather than evicting them.
func (s *Store) RoomFor(dir string, n int64) error {
	free, _, err := diskSpace(dir)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", dir, err)
	}
	keep := s.disk.reserveBytes() + workRoom
	if free-n < keep {
		return fmt.Errorf("%w: %s needs %d MiB, %d MiB are free and the store keeps %d MiB", edge.ErrDiskFull, dir, n>>20, free>>20, keep>>20)
	}
	return nil
}
