package receiver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/internal/zblock"
	"github.com/edgegw/edgegw/sync/wire"
)

type seqKey struct {
	gw    string
	epoch uint64
}

// seqSet returns the committed dedupe set of (gw, epoch), loading it.
func (b *Badger) seqSet(txn *badger.Txn, k seqKey) (*seqSet, error) {
	if s, ok := b.seqs[k]; ok {
		return s, nil
	}
	s := &seqSet{}
	item, err := txn.Get(gwSubKey(pSeqs, k.gw, k.epoch))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return nil, err
	default:
		if err := item.Value(func(v []byte) error {
			var err error
			s, err = decodeSeqSet(v)
			return err
		}); err != nil {
			return nil, fmt.Errorf("gateway %q epoch %d: dedupe index: %w", k.gw, k.epoch, err)
		}
	}
	b.seqs[k] = s
	return s, nil
}

// pendingBatch is one StoreBatch call waiting in the group-commit queue.
// Its events are encoded by the caller's goroutine, outside the lock.
type pendingBatch struct {
	gw       string
	events   []wire.Event
	recs     []byte // the records of events, back to back
	ends     []int  // ends[i]: end of event i's record in recs
	received time.Time

	stored, dups int
	err          error
	done         bool // set by the leader under b.ingest
}

// StoreBatch implements Storage. Concurrent calls are group-committed: the
// caller that takes the ingest lock stores every batch queued by then in as
// few transactions as Badger's limits allow and fsyncs once for all of them
// (SyncWrites), then every caller returns. Each transaction holds its events
// together with the updated dedupe index of their epochs, so a crash between
// two of them leaves every event either stored and indexed or not at all; a
// resend stores the rest. Encoding the events and waiting for the disk do
// not hold up the other callers' decoding.
func (b *Badger) StoreBatch(gw string, events []wire.Event, received time.Time) (stored, dups int, err error) {
	p := &pendingBatch{gw: gw, events: events, received: received, ends: make([]int, len(events))}
	// Refuse an event too large for one transaction before writing anything.
	for i := range events {
		e := &events[i]
		if n := eventSize(e); n > b.chunkBytes/4 {
			return 0, 0, fmt.Errorf("%w: event %d/%d is about %d bytes, the limit is %d",
				ErrEventTooLarge, e.Epoch, e.Seq, n, b.chunkBytes/4)
		}
		if p.recs, err = appendRecord(p.recs, e); err != nil {
			return 0, 0, fmt.Errorf("gateway %q: event %d/%d: %w", gw, e.Epoch, e.Seq, err)
		}
		p.ends[i] = len(p.recs)
	}
	b.queueMu.Lock()
	b.queue = append(b.queue, p)
	if b.queued != nil {
		b.queued(len(b.queue))
	}
	b.queueMu.Unlock()

	b.ingest.Lock()
	defer b.ingest.Unlock()
	if !p.done { // lead: store everything queued, this batch included
		b.queueMu.Lock()
		group := b.queue
		b.queue = nil
		b.queueMu.Unlock()
		err := b.storeGroup(group)
		for _, q := range group {
			if err != nil {
				q.stored, q.dups, q.err = 0, 0, err
			}
			q.done = true
		}
	}
	return p.stored, p.dups, p.err
}

// storeGroup stores the batches of group in order; b.ingest is held.
func (b *Badger) storeGroup(group []*pendingBatch) (err error) {
	txn := b.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	work := map[seqKey]*seqSet{} // this group's copies of the sets it touches
	defer func() {
		if err != nil {
			for k := range work {
				delete(b.seqs, k) // reload what was committed
			}
		}
	}()
	stats := map[string]*gwStats{}
	dirty := map[seqKey]bool{}
	commit := func(cursor uint64) error {
		for k := range dirty {
			if err := txn.Set(gwSubKey(pSeqs, k.gw, k.epoch), work[k].encode()); err != nil {
				return fmt.Errorf("gateway %q: store dedupe index: %w", k.gw, err)
			}
		}
		for gw, st := range stats {
			if err := setJSON(txn, gwKey(pStats, gw), st); err != nil {
				return err
			}
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("commit events: %w", err)
		}
		b.cursor = cursor
		for k := range dirty {
			b.seqs[k] = work[k].clone()
		}
		clear(dirty)
		return nil
	}

	cursor := b.cursor
	var chunkN, chunkB int
	// The block being filled: events cursor-blockN+1 .. cursor.
	var block []byte
	blockN := 0
	for _, p := range group {
		gw := p.gw
		st := stats[gw]
		if st == nil {
			st = &gwStats{}
			if err := getJSON(txn, gwKey(pStats, gw), st); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("gateway %q stats: %w", gw, err)
			}
			stats[gw] = st
		}
		st.LastBatchAt = p.received
		recvMs := p.received.UnixMilli()
		flush := func() error {
			if blockN == 0 {
				return nil
			}
			val := appendBlock(nil, blockN, gw, recvMs, block)
			ek := binary.BigEndian.AppendUint64([]byte(pEvent), cursor-uint64(blockN)+1)
			if err := txn.Set(ek, val); err != nil {
				return fmt.Errorf("gateway %q: store events: %w", gw, err)
			}
			chunkN++
			chunkB += len(ek) + 32
			if len(val) < valueThreshold {
				chunkB += len(val)
			}
			block, blockN = block[:0], 0
			return nil
		}
		var last seqKey
		var set *seqSet
		start := 0
		for i := range p.events {
			e := &p.events[i]
			rec := p.recs[start:p.ends[i]]
			start = p.ends[i]
			if k := (seqKey{gw, e.Epoch}); set == nil || k != last {
				if set = work[k]; set == nil {
					committed, err := b.seqSet(txn, k)
					if err != nil {
						return err
					}
					set = committed.clone()
					work[k] = set
				}
				last = k
			}
			if set.has(e.Seq) {
				p.dups++
				continue
			}
			if chunkN >= b.chunkEntries || chunkB+len(block) >= b.chunkBytes {
				if err := flush(); err != nil {
					return err
				}
				if err := commit(cursor); err != nil {
					return err
				}
				txn = b.db.NewTransaction(true)
				chunkN, chunkB = 0, 0
			}
			cursor++
			block = zblock.AppendRecord(block, rec)
			blockN++
			set.add(e.Seq)
			dirty[last] = true
			if e.Alert != nil && e.Alert.ID != "" {
				if err := b.updateAlert(txn, gw, e); err != nil {
					return err
				}
				chunkN++
				chunkB += 256
			}
			p.stored++
			st.Events++
			if blockN >= blockEvents || len(block) >= b.chunkBytes/4 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil { // a block holds one batch's events
			return err
		}
	}
	return commit(cursor)
}
