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

// badgerOptions returns Badger options for a small box: two 1 MiB memtables,
// 256 KiB base tables, two compactors, fsync on every commit.
//
// Events reach Badger as zstd-compressed blocks of ~150 events (block.go), so
// Badger sees a few hundred keys per second at full ingest, and its tables
// hold already-compressed data. The sizes are set by peak memory: with
// Badger's default allocator (no jemalloc) memtable arenas and table
// builders are Go heap, and a table builder holds its whole table in
// doubling buffers (a 2 MiB memtable's flush took 16 MiB). Blocks stay in
// the LSM tree (ValueThreshold above the largest block), so deleting them
// needs no value-log GC. Measured with `edgebench store` (docs/benchmarks.md).
//
// On 64-bit, Badger's own block compression is off (it would only
// recompress zstd) and so is its block cache. On 32-bit both stay on, as
// the issue asks: Badger v4.9.6 used to panic in compaction there without
// them. That panic, and the lost writes on 32-bit, were ristretto's
// z.Allocator reusing live memory there; go.mod replaces ristretto with the
// patched copy in third_party/ristretto (TestAllocatorReuse guards it).
// Value-log files are kept small because they are mmapped, and 32-bit
// address space is scarce.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(1 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(256 << 10).
		WithBaseLevelSize(8 << 20).
		WithNumCompactors(2).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(1 << 20).
		WithValueLogFileSize(64 << 20).
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
	if is32bit {
		o = o.WithValueLogFileSize(32 << 20).WithCompression(options.Snappy).WithBlockCacheSize(1 << 20)
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
