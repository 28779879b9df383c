package store

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// is32bit is true on GOARCH=arm and 386, where Badger needs care.
const is32bit = strconv.IntSize == 32

// Badger's sizes. They are set by peak memory and by how much room Badger
// needs on a full disk (disk.go): with Badger's default allocator (no
// jemalloc) memtable arenas and table builders are Go heap, and a table
// builder holds its whole table in doubling buffers (a 2 MiB memtable's
// flush took 16 MiB).
const (
	memTableBytes  = 1 << 20
	baseTableBytes = 1 << 20
	baseLevelBytes = 4 << 20
	// tableBlockBytes is Badger's table block size: a table block holds
	// whole event blocks (up to maxBlockRaw and a header).
	tableBlockBytes = 64 << 10
	// vlogFileBytes is Badger's minimum: event blocks stay in the LSM tree
	// (ValueThreshold), so only large state values reach the value log, and
	// its file is allocated at twice this size.
	vlogFileBytes = 1 << 20
)

// badgerOptions returns Badger options for a small box: two 1 MiB memtables,
// 1 MiB tables on every level (TableSizeMultiplier 1: a compaction never
// builds a table larger than that in the Go heap), 64 KiB table blocks, two
// compactors, fsync on every commit. budget is
// Options.MemoryBudget; it sizes the caches (memory.go).
//
// Events reach Badger as zstd-compressed blocks of ~150 events (block.go), so
// Badger sees a few hundred keys per second at full ingest, and its tables
// hold already-compressed data. Blocks stay in the LSM tree (ValueThreshold
// above the largest block), so deleting them needs no value-log GC.
// Measured with `edgebench store` (docs/benchmarks.md).
//
// On 64-bit, Badger's own block compression is off (it would only
// recompress zstd) and so is its block cache. On 32-bit both stay on, as
// the issue asks: Badger v4.9.6 used to panic in compaction there without
// them. That panic, and the lost writes on 32-bit, were ristretto's
// z.Allocator reusing live memory there; go.mod replaces ristretto with the
// patched copy in third_party/ristretto (TestAllocatorReuse guards it).
func badgerOptions(dir string, log *slog.Logger, budget int64) badger.Options {
	m := memoryPlan(budget)
	o := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(memTableBytes).
		WithNumMemtables(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(baseTableBytes).
		// With Badger's 4 KiB blocks, each incompressible 32 KiB value
		// grew its table block by doubling, and a 1 MiB memtable's flush
		// took 14 MiB of heap; with 64 KiB and 1 MiB tables, ingest of
		// incompressible events doubled and the paced p99 halved
		// (docs/hardening.md §8).
		WithBlockSize(tableBlockBytes).
		WithBaseLevelSize(baseLevelBytes).
		WithNumCompactors(2).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(m.indexCache).
		WithValueLogFileSize(vlogFileBytes).
		WithValueLogMaxEntries(200000).
		// Event blocks (at most maxBlockRaw and a header) stay in
		// the LSM tree; only large state values go to the value log.
		WithValueThreshold(64 << 10).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		// Every write of this store is blind (no read-modify-write in a
		// transaction), so conflict detection would only cost memory.
		WithDetectConflicts(false).
		WithLogger(badgerLogger{log})
	o.TableSizeMultiplier = 1
	if is32bit {
		o = o.WithCompression(options.Snappy).WithBlockCacheSize(m.blockCache32)
	}
	return o
}

// badgerLogger routes Badger's logging into slog. Badger is chatty at INFO
// (every compaction, every table), so its INFO goes to slog's DEBUG and its
// WARNING to slog's WARN.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) msg(f string, args []any) string {
	return strings.TrimSpace(fmt.Sprintf(f, args...))
}

func (b badgerLogger) Errorf(f string, args ...any) {
	b.l.Error("badger", "msg", b.msg(f, args))
}

func (b badgerLogger) Warningf(f string, args ...any) {
	b.l.Warn("badger", "msg", b.msg(f, args))
}

func (b badgerLogger) Infof(f string, args ...any) { b.debug(f, args) }

func (b badgerLogger) Debugf(f string, args ...any) { b.debug(f, args) }

func (b badgerLogger) debug(f string, args []any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug) {
		b.l.Debug("badger", "msg", b.msg(f, args))
	}
}

var _ badger.Logger = badgerLogger{}
