package receiver

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/edgegw/edgegw/sync/wire"
)

// Key layout of the Badger store. Integers are 8 bytes big-endian so keys
// sort numerically; gateway ids never contain 0x00.
const (
	pGateway   = "gw/"   // + id → Gateway JSON
	pStats     = "gs/"   // + id → gwStats JSON
	pHeartbeat = "hb/"   // + id → hbRecord JSON
	pSeqs      = "r/"    // + id 0x00 epoch → seqSet: the seqs stored (the dedupe index)
	pEvent     = "e/"    // + cursor of the block's first event → block of events (record.go)
	pAlert     = "al/"   // + id 0x00 alertID → ActiveAlert JSON
	pConfig    = "cfg/"  // + id → ConfigBundle JSON
	pCommand   = "cmd/"  // + id 0x00 cmdID → Command JSON
	pResult    = "res/"  // + id 0x00 cmdID → resultRecord JSON
	pAttach    = "att/"  // + id 0x00 cmdID → the attachment of the result, raw
	pFile      = "file/" // + id 0x00 name → a file the gateway put (PUT /v1/files), raw
	pBoots     = "boot/" // + id → []BootStart JSON, latest start first (boot.go)
	kCmdSeq    = "meta/cmdseq"
)

// memTableSize is the Badger memtable size; one ingest transaction stays
// within Badger's per-txn limits for it: 15% of it in bytes, and in entries
// of 96-byte skiplist nodes. Chunks use half of each. Event blocks go to the
// value log, so the memtable holds only their keys and value pointers.
const memTableSize = 8 << 20

// valueThreshold: values this large or larger (event blocks) are written to
// Badger's value log instead of the LSM tree. Events are never rewritten or
// deleted, so they need no compaction: the LSM holds small entries only, and
// memtable flushes and compactions build small tables (with values in the
// tree, their builders held hundreds of MiB during a sustained drain).
const valueThreshold = 512

// maxEventBytes is the largest event stored (by eventSize's estimate); one
// ingest transaction holds up to 4 of its size in the LSM.
const maxEventBytes = 300 << 10

// Badger is the default Storage: an embedded Badger database sized for a
// small box (8 MiB memtables, event blocks in the value log, 2 MiB tables,
// 4 MiB block cache, no block compression) that fsyncs every commit.
// Concurrent StoreBatch calls are group-committed (ingest.go).
type Badger struct {
	db  *badger.DB
	dir string // the data directory: release artifacts are in its releases/
	log *slog.Logger

	queueMu gosync.Mutex    // guards queue
	queue   []*pendingBatch // StoreBatch calls waiting for a leader
	queued  func(n int)     // tests: told the queue's length on every append, under queueMu

	ingest gosync.Mutex       // one group at a time: cursors are committed in order
	cursor uint64             // last cursor committed
	seqs   map[seqKey]*seqSet // committed dedupe sets, loaded on first use

	chunkBytes, chunkEntries int          // limits of one ingest transaction
	cmdMu                    gosync.Mutex // command ids and results
}

var _ Storage = (*Badger)(nil)

type gwStats struct {
	Events      uint64    `json:"events"`
	LastBatchAt time.Time `json:"last_batch_at,omitzero"`
}

type hbRecord struct {
	Heartbeat wire.Heartbeat `json:"heartbeat"`
	At        time.Time      `json:"at"`
}

// OpenBadger opens (or creates) the store in dir. logger may be nil.
func OpenBadger(dir string, logger *slog.Logger) (*Badger, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(16 << 20).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(2 << 20).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(16 << 20).
		WithMetricsEnabled(false).
		WithNumCompactors(2).
		// Compression doubles the table builders' buffers (each block kept
		// raw and compressed) and costs CPU; event blocks are compact already.
		WithCompression(options.None).
		WithDetectConflicts(false). // writers are serialized by the receiver
		WithLogger(badgerLogger{logger.With("component", "badger")})
	db, err := badger.Open(opts)
	if err != nil && strings.Contains(err.Error(), "Create a new file") {
		// Badger #2207: a kill right after a new memtable file was created
		// leaves it empty and the next Open fails; a second Open succeeds.
		db, err = badger.Open(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("open receiver store %q: %w", dir, err)
	}
	b := &Badger{db: db, dir: dir, log: logger, seqs: map[seqKey]*seqSet{},
		chunkBytes: maxEventBytes * 4, chunkEntries: memTableSize * 15 / 100 / 96 / 2}
	if err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pEvent)})
		defer it.Close()
		it.Seek(append([]byte(pEvent), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		if !it.Valid() {
			return nil
		}
		first := binary.BigEndian.Uint64(it.Item().Key()[len(pEvent):])
		return it.Item().Value(func(v []byte) error {
			blk, err := readBlock(v)
			if err != nil {
				return fmt.Errorf("event block %d: %w", first, err)
			}
			b.cursor = first + blk.n - 1
			return nil
		})
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open receiver store %q: %w", dir, err)
	}
	return b, nil
}

// LastCursor is the cursor of the newest stored event (0: none).
func (b *Badger) LastCursor() uint64 {
	b.ingest.Lock()
	defer b.ingest.Unlock()
	return b.cursor
}

// Close closes the database.
func (b *Badger) Close() error { return b.db.Close() }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func gwKey(prefix, id string) []byte { return []byte(prefix + id) }

func gwSubKey(prefix, id string, rest ...uint64) []byte {
	k := make([]byte, 0, len(prefix)+len(id)+1+8*len(rest))
	k = append(k, prefix...)
	k = append(k, id...)
	k = append(k, 0)
	for _, r := range rest {
		k = binary.BigEndian.AppendUint64(k, r)
	}
	return k
}

func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(val []byte) error { return json.Unmarshal(val, v) })
}

func setJSON(txn *badger.Txn, key []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, val)
}

// AddGateway implements Storage.
func (b *Badger) AddGateway(g Gateway) error {
	if !ValidGatewayID(g.ID) {
		return fmt.Errorf("gateway id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", g.ID)
	}
	return b.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(gwKey(pGateway, g.ID)); err == nil {
			return fmt.Errorf("gateway %q: %w", g.ID, ErrExists)
		}
		return setJSON(txn, gwKey(pGateway, g.ID), g)
	})
}

// Gateway implements Storage.
func (b *Badger) Gateway(id string) (Gateway, error) {
	var g Gateway
	err := b.db.View(func(txn *badger.Txn) error { return getJSON(txn, gwKey(pGateway, id), &g) })
	return g, err
}

// Gateways implements Storage.
func (b *Badger) Gateways() ([]GatewayStatus, error) {
	var out []GatewayStatus
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: []byte(pGateway)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var g Gateway
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &g) }); err != nil {
				return err
			}
			s := GatewayStatus{ID: g.ID, Place: g.Place, Created: g.Created, Disabled: g.Disabled}
			var st gwStats
			if err := getJSON(txn, gwKey(pStats, g.ID), &st); err == nil {
				s.Events, s.LastBatchAt = st.Events, st.LastBatchAt
			}
			var hb hbRecord
			if err := getJSON(txn, gwKey(pHeartbeat, g.ID), &hb); err == nil {
				s.LastHeartbeat, s.HeartbeatAt = &hb.Heartbeat, hb.At
				s.ClockSkewMillis, s.SkewKnown = hb.Heartbeat.ClockSkewMillis, hb.Heartbeat.SkewKnown
			}
			var cfg wire.ConfigBundle
			if err := getJSON(txn, gwKey(pConfig, g.ID), &cfg); err == nil {
				s.ConfigVersion = cfg.Version
			}
			out = append(out, s)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// eventSize estimates the stored size of an event, generously.
func eventSize(e *wire.Event) int {
	n := 64 + len(e.Kind) + len(e.Device) + len(e.Point) + len(e.Unit) + len(e.Text) + len(e.Location) + len(e.Boot)
	if a := e.Alert; a != nil {
		n += 64 + 2*(len(a.ID)+len(a.Rule)+len(a.State)+len(a.Severity)+len(a.Message)+len(a.By))
	}
	if g := e.Gap; g != nil {
		n += 96 + 2*len(g.Reason)
	}
	if a := e.Action; a != nil {
		n += 64 + 2*(len(a.Rule)+len(a.Output)+len(a.Result)+len(a.Error))
	}
	return n
}

// updateAlert keeps the latest state of an alert, dropping it once resolved.
func (b *Badger) updateAlert(txn *badger.Txn, gw string, e *wire.Event) error {
	k := append(gwSubKey(pAlert, gw), e.Alert.ID...)
	var cur ActiveAlert
	switch err := getJSON(txn, k, &cur); {
	case err == nil:
		if cur.Epoch == e.Epoch && cur.Seq > e.Seq {
			return nil // an older change arriving late
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("gateway %q alert %q: %w", gw, e.Alert.ID, err)
	}
	if e.Alert.State == wire.AlertResolved {
		return txn.Delete(k)
	}
	t := e.Time
	if !wire.TimeFitsJSON(t) {
		t = time.Time{} // an untrusted clock's impossible time: unknown
	}
	return setJSON(txn, k, ActiveAlert{Gateway: gw, Epoch: e.Epoch, Seq: e.Seq, Time: t,
		Device: e.Device, Point: e.Point, Alert: *e.Alert})
}

// maxScan bounds the events one Events call reads when filtering by gateway.
const maxScan = 200_000

// Events implements Storage.
func (b *Badger) Events(gw string, after uint64, limit int) ([]StoredEvent, uint64, error) {
	if limit <= 0 {
		limit = 1000
	}
	next := after
	var out []StoredEvent
	places := map[string]*placeHistory{} // gateway -> its places, for the events' paths
	placeOf := func(txn *badger.Txn, gw string, cursor uint64) string {
		h, ok := places[gw]
		if !ok {
			ph := b.placeHistory(txn, gw)
			h = &ph
			places[gw] = h
		}
		return h.at(cursor)
	}
	err := b.db.View(func(txn *badger.Txn) error {
		// Start at the block holding after+1: the last block key <= it.
		start := binary.BigEndian.AppendUint64([]byte(pEvent), after+1)
		rit := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pEvent)})
		rit.Seek(start)
		if rit.Valid() {
			start = rit.Item().KeyCopy(nil)
		}
		rit.Close()
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 8, Prefix: []byte(pEvent)})
		defer it.Close()
		scanned := 0
		for it.Seek(start); it.Valid() && len(out) < limit && scanned < maxScan; it.Next() {
			first := binary.BigEndian.Uint64(it.Item().Key()[len(pEvent):])
			err := it.Item().Value(func(v []byte) error {
				blk, err := readBlock(v)
				if err != nil {
					return fmt.Errorf("event block %d: %w", first, err)
				}
				if gw != "" && blk.gateway != gw { // skip the block whole
					if end := first + blk.n - 1; end > after {
						next = end
						scanned += int(end - max(first, after+1) + 1)
					}
					return nil
				}
				for j := uint64(0); j < blk.n && len(out) < limit; j++ {
					rec, err := blk.next()
					if err != nil {
						return fmt.Errorf("event %d: %w", first+j, err)
					}
					cur := first + j
					if cur <= after {
						continue
					}
					scanned++
					next = cur
					e, err := decodeRecord(rec)
					if err != nil {
						return fmt.Errorf("event %d: %w", cur, err)
					}
					js, err := json.Marshal(&e)
					if err != nil {
						return fmt.Errorf("event %d: %w", cur, err)
					}
					se := StoredEvent{Cursor: cur, Gateway: blk.gateway, Received: blk.received, Event: js}
					// The place the gateway had when the event was stored (badger_gw.go).
					se.Locate(placeOf(txn, blk.gateway, cur), e.Location)
					out = append(out, se)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, next, err
}

// ActiveAlerts implements Storage.
func (b *Badger) ActiveAlerts(gw string) ([]ActiveAlert, error) {
	prefix := []byte(pAlert)
	if gw != "" {
		prefix = gwSubKey(pAlert, gw)
	}
	var out []ActiveAlert
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var a ActiveAlert
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &a) }); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// PutHeartbeat implements Storage.
func (b *Badger) PutHeartbeat(gw string, hb wire.Heartbeat, at time.Time) error {
	return b.db.Update(func(txn *badger.Txn) error {
		return setJSON(txn, gwKey(pHeartbeat, gw), hbRecord{Heartbeat: hb, At: at})
	})
}

// PutBootStart implements BootKeeper.
func (b *Badger) PutBootStart(gw, boot string, start time.Time) error {
	for {
		err := b.db.Update(func(txn *badger.Txn) error {
			var boots []BootStart
			if err := getJSON(txn, gwKey(pBoots, gw), &boots); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			out, changed := MergeBoot(boots, boot, start)
			if !changed {
				return nil
			}
			return setJSON(txn, gwKey(pBoots, gw), out)
		})
		if !errors.Is(err, badger.ErrConflict) { // two heartbeats at once: again
			return err
		}
	}
}

// BootStarts implements BootKeeper.
func (b *Badger) BootStarts(gw string) ([]BootStart, error) {
	var boots []BootStart
	err := b.db.View(func(txn *badger.Txn) error { return getJSON(txn, gwKey(pBoots, gw), &boots) })
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return boots, err
}

var _ BootKeeper = (*Badger)(nil)

// PutConfig implements Storage.
func (b *Badger) PutConfig(gw string, c wire.ConfigBundle) error {
	return b.db.Update(func(txn *badger.Txn) error { return setJSON(txn, gwKey(pConfig, gw), c) })
}

// Config implements Storage.
func (b *Badger) Config(gw string) (wire.ConfigBundle, error) {
	var c wire.ConfigBundle
	err := b.db.View(func(txn *badger.Txn) error { return getJSON(txn, gwKey(pConfig, gw), &c) })
	return c, err
}

// AddCommand implements Storage.
func (b *Badger) AddCommand(gw string, c wire.Command) (wire.Command, error) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	err := b.db.Update(func(txn *badger.Txn) error {
		var last uint64
		switch item, err := txn.Get([]byte(kCmdSeq)); {
		case err == nil:
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return errors.New("command counter: bad record")
				}
				last = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		c.ID = last + 1
		if err := txn.Set([]byte(kCmdSeq), u64(c.ID)); err != nil {
			return err
		}
		return setJSON(txn, gwSubKey(pCommand, gw, c.ID), c)
	})
	return c, err
}

// Commands implements Storage.
func (b *Badger) Commands(gw string, after uint64, limit int, pendingOnly bool) ([]CommandEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []CommandEntry
	err := b.db.View(func(txn *badger.Txn) error {
		prefix := gwSubKey(pCommand, gw)
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: prefix})
		defer it.Close()
		for it.Seek(gwSubKey(pCommand, gw, after+1)); it.Valid() && len(out) < limit; it.Next() {
			var ce CommandEntry
			ce.Gateway = gw
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &ce.Command) }); err != nil {
				return err
			}
			var r resultRecord
			switch err := getJSON(txn, gwSubKey(pResult, gw, ce.Command.ID), &r); {
			case err == nil:
				if pendingOnly {
					continue
				}
				ce.AttachmentBytes = r.AttachmentBytes
				if len(r.Attachment) > 0 { // stored inline by an older receiver
					ce.AttachmentBytes, r.Attachment = len(r.Attachment), nil
				}
				ce.Result = &r.CommandResult
			case !errors.Is(err, ErrNotFound):
				return err
			}
			out = append(out, ce)
		}
		return nil
	})
	return out, err
}

// PutResult implements Storage.
func (b *Badger) PutResult(gw string, id uint64, r wire.CommandResult) (first bool, err error) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	err = b.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(gwSubKey(pCommand, gw, id)); errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("gateway %q command %d: %w", gw, id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := txn.Get(gwSubKey(pResult, gw, id)); err == nil {
			return nil
		}
		first = true
		rec := resultRecord{CommandResult: r, AttachmentBytes: len(r.Attachment)}
		rec.Attachment = nil
		if len(r.Attachment) > 0 {
			if err := txn.Set(gwSubKey(pAttach, gw, id), r.Attachment); err != nil {
				return err
			}
		}
		return setJSON(txn, gwSubKey(pResult, gw, id), rec)
	})
	return first, err
}

// resultRecord is a command result as stored: its attachment apart.
type resultRecord struct {
	wire.CommandResult
	AttachmentBytes int `json:"attachment_bytes,omitempty"`
}

// Attachment implements Storage.
func (b *Badger) Attachment(gw string, id uint64) ([]byte, error) {
	var out []byte
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(gwSubKey(pAttach, gw, id))
		if err == nil {
			out, err = item.ValueCopy(nil)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		var r resultRecord // an older receiver kept it inline
		if err := getJSON(txn, gwSubKey(pResult, gw, id), &r); err != nil {
			return err
		}
		if len(r.Attachment) == 0 {
			return ErrNotFound
		}
		out = r.Attachment
		return nil
	})
	if err != nil && errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("gateway %q command %d: attachment: %w", gw, id, ErrNotFound)
	}
	return out, err
}

func fileKey(gw, name string) []byte { return append(gwSubKey(pFile, gw), name...) }

// PutFile implements Storage.
func (b *Badger) PutFile(gw, name string, data []byte) error {
	return b.db.Update(func(txn *badger.Txn) error { return txn.Set(fileKey(gw, name), data) })
}

// File implements Storage.
func (b *Badger) File(gw, name string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(fileKey(gw, name))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("gateway %q file %q: %w", gw, name, ErrNotFound)
	}
	return out, err
}

// badgerLogger routes Badger's logs into slog; its chatty info goes to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any)  { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any) {}
