package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/wire"
)

// QuarantinePrefix is the StateStore key prefix of quarantined batches:
// "uplink/quarantine/<epoch>-<from>-<to>".
const QuarantinePrefix = "uplink/quarantine/"

// maxRejectRun is how many events in a row may be quarantined with no
// accepted batch in between before the uplink decides the platform rejects
// everything and holds the queue instead.
const maxRejectRun = 64

// rejectedReason prefixes the gap record of a quarantined batch.
const rejectedReason = "rejected by central: "

// Quarantined is what the StateStore keeps of a batch the central platform
// refused: the events, as they would have gone on the wire, and why.
type Quarantined struct {
	At     time.Time    `json:"at"`
	Status int          `json:"status"`
	Reason string       `json:"reason"`
	Events []wire.Event `json:"events"`
}

// uploadLoop sends the log to the central platform, priority lane first,
// until ctx ends.
func (u *Uplink) uploadLoop(ctx context.Context) error {
	var linger time.Time // when the main lane started waiting to fill a batch
	backoff := edge.Backoff{Min: u.cfg.RetryWaitMin.D(), Max: u.cfg.RetryWaitMax.D(), Clock: u.clk}
	fileBackoff := edge.Backoff{Min: u.cfg.RetryWaitMin.D(), Max: u.cfg.RetryWaitMax.D(), Clock: u.clk}
	for {
		if err := u.waitUnpaused(ctx); err != nil {
			return nil
		}
		wait, err := u.step(ctx, &linger)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if u.paused.Load() {
				continue
			}
			u.mu.Lock()
			u.st.LastError, u.st.LastErrorAt = err.Error(), u.clk.Now()
			u.mu.Unlock()
			d := backoff.Next()
			u.logs.Warn("upload failed", "upload failed, backing off", "err", err, "wait", d.Round(time.Millisecond))
			if u.sleep(ctx, d) != nil {
				return nil
			}
			continue
		}
		backoff.Reset()
		if wait != nil {
			// Idle lanes: one file (the lowest priority), then the events again.
			did, ferr := u.sendFile(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if ferr != nil {
				if u.fileRetryWait(ctx, &fileBackoff, wait) != nil {
					return nil
				}
				continue
			}
			if did {
				fileBackoff.Reset()
				continue
			}
			if u.waitFor(ctx, wait) != nil {
				return nil
			}
			u.noteProgress() // something new to send: the backlog starts moving now
		}
	}
}

// waitFor waits for ch, ctx or a pause change.
func (u *Uplink) waitFor(ctx context.Context, ch <-chan struct{}) error {
	pc := u.pauseChanged()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
	case <-pc:
	}
	return nil
}

// step does one unit of upload work: one priority batch, one main batch,
// or nothing yet. It returns a channel to wait on when there is nothing to
// send now.
func (u *Uplink) step(ctx context.Context, linger *time.Time) (<-chan struct{}, error) {
	lg := u.o.Log
	maxEv, maxBytes := u.cfg.MaxEvents, int(u.cfg.MaxBytes)
	// Every event up to seen is visible to the lane reads below; a main
	// batch gives way to a priority event after it (yieldToPriority).
	seen := lg.LastSeq()
	mainNext, err := lg.Cursor(edge.CursorUplink)
	if err != nil {
		return nil, fmt.Errorf("read cursor %s: %w", edge.CursorUplink, err)
	}
	// The lanes, highest first: alerts and gap records, then state changes
	// (with alerts the alert lane has not sent), then everything else. Each
	// has its durable cursor; none goes behind the main cursor. An event a
	// higher lane acknowledged lies below that lane's cursor and is skipped.
	var next [len(lanes)]uint64
	for i, l := range lanes {
		if next[i], err = lg.Cursor(l.cursor); err != nil {
			return nil, fmt.Errorf("read cursor %s: %w", l.cursor, err)
		}
	}
	skip := func(upto int) func(*edge.Event) bool {
		return func(e *edge.Event) bool {
			for j := 0; j < upto; j++ {
				if e.Priority >= lanes[j].min && e.Seq < next[j] {
					return true
				}
			}
			return false
		}
	}
	for i, l := range lanes {
		from := max(next[i], mainNext)
		read, err := lg.ReadPriority(from, l.min, maxEv)
		if err != nil {
			return nil, fmt.Errorf("read priority events from %d: %w", from, err)
		}
		if len(read) == 0 {
			if from-next[i] > uint64(4*maxEv) {
				// Keep the lane's cursor near the main one, so a restart
				// does not scan the index from far behind (not on every
				// batch: each move is an fsync).
				if err := lg.SetCursor(l.cursor, from); err != nil {
					return nil, fmt.Errorf("move cursor %s: %w", l.cursor, err)
				}
				next[i] = from
			}
			continue
		}
		send, covered := planBatch(read, skip(i), maxBytes)
		p := plan{read: read[:covered], send: send}
		if len(send) > 0 {
			p.n, p.err = u.deliver(ctx, l.name, send)
		}
		if through, ok := p.through(); ok {
			if cerr := lg.SetCursor(l.cursor, through+1); cerr != nil {
				return nil, fmt.Errorf("move cursor %s: %w", l.cursor, cerr)
			}
			u.noteProgress()
		}
		return nil, p.err
	}
	mainSkip := skip(len(lanes))

	read, err := lg.Read(mainNext, maxEv*pipeline)
	if err != nil {
		return nil, fmt.Errorf("read events from %d: %w", mainNext, err)
	}
	if len(read) == 0 {
		*linger = time.Time{}
		last := lg.LastSeq()
		if last >= mainNext {
			// Everything left was evicted: move past it.
			return nil, lg.SetCursor(edge.CursorUplink, last+1)
		}
		return lg.Wait(last), nil
	}
	// Up to `pipeline` batches go at once, so the receiver's storage and the
	// network overlap; the cursor moves past each only once it and every
	// batch before it are acknowledged.
	var plans []plan
	for off := 0; off < len(read) && len(plans) < pipeline; {
		part := read[off:min(off+maxEv, len(read))]
		send, covered := planBatch(part, mainSkip, maxBytes)
		plans = append(plans, plan{read: part[:covered], send: send})
		off += covered
	}
	first := plans[0]
	full := len(plans) > 1 || len(first.read) >= maxEv || len(first.read) < len(read)
	if !full && len(first.send) > 0 && u.cfg.MaxAge > 0 {
		now := u.clk.Now()
		if linger.IsZero() {
			*linger = now
		}
		if left := u.cfg.MaxAge.D() - now.Sub(*linger); left > 0 {
			return u.lingerWait(read[len(read)-1].Seq, left), nil
		}
	}
	*linger = time.Time{}
	yctx, stop := u.yieldToPriority(ctx, seen)
	var wg sync.WaitGroup
	for i := range plans {
		if len(plans[i].send) == 0 {
			continue
		}
		wg.Add(1)
		go func(p *plan) {
			defer wg.Done()
			p.n, p.err = u.deliver(yctx, "main", p.send)
		}(&plans[i])
	}
	wg.Wait()
	yielded := errors.Is(context.Cause(yctx), errYield)
	stop()
	// Move the main cursor past what was acknowledged (or quarantined), in
	// order, and past the skipped priority events between.
	var through uint64
	for i := range plans {
		t, ok := plans[i].through()
		if ok {
			through = t
		}
		if plans[i].n < len(plans[i].send) {
			err = plans[i].err
			break
		}
	}
	if err == nil {
		for i := range plans {
			if plans[i].err != nil {
				err = plans[i].err
				break
			}
		}
	}
	if through >= mainNext {
		if cerr := lg.SetCursor(edge.CursorUplink, through+1); cerr != nil {
			return nil, fmt.Errorf("move cursor %s: %w", edge.CursorUplink, cerr)
		}
		u.noteProgress()
	}
	if err != nil && yielded && ctx.Err() == nil {
		// The priority lanes go next; this batch goes again after them
		// (the central platform drops what it already has).
		u.logs.LogAttrs(ctx, "main batch yields", slog.LevelInfo, "main batch stopped retrying: a priority event goes first", "from", mainNext)
		return nil, nil
	}
	return nil, err
}

// pipeline is how many main-lane batches are in flight at once.
const pipeline = 2

// plan is one batch: the events read that it covers, the ones it sends
// (read minus those a higher lane had acknowledged), and the outcome.
type plan struct {
	read, send []edge.Event
	n          int
	err        error
}

// through returns the last seq the lane's cursor may pass: the end of the
// plan when everything was sent, else the last acknowledged event, else the
// skipped events before the first one sent. ok is false when nothing is done.
func (p *plan) through() (seq uint64, ok bool) {
	switch {
	case len(p.read) == 0:
		return 0, false
	case p.n == len(p.send):
		return p.read[len(p.read)-1].Seq, true
	case p.n > 0:
		return p.send[p.n-1].Seq, true
	}
	for _, e := range p.read {
		if e.Seq >= p.send[0].Seq {
			break
		}
		seq, ok = e.Seq, true
	}
	return seq, ok
}

// lane is one priority lane: its cursor and the lowest priority it carries.
type lane struct {
	name   string
	cursor string
	min    edge.Priority
}

var lanes = [...]lane{
	{"alert", CursorAlert, edge.PriorityAlert},
	{"priority", CursorPriority, MinPriority},
}

// lingerWait returns a channel closed when the linger time is up or when
// something arrives that ends it early (the next event: step re-checks for
// priority events and a full batch).
func (u *Uplink) lingerWait(after uint64, left time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-u.o.Log.Wait(after):
		case <-u.clk.After(left):
		}
		close(ch)
	}()
	return ch
}

// deliver sends evs (one lane's batch, in seq order) and returns how many of
// them, from the start, are done: acknowledged or quarantined. A rejected
// batch is bisected so the good events still go and each poison event is
// quarantined alone.
func (u *Uplink) deliver(ctx context.Context, lane string, evs []edge.Event) (int, error) {
	acked, err := u.post(ctx, evs)
	if err == nil {
		if acked < len(evs) {
			return acked, &Error{Class: ErrTransient, Msg: fmt.Sprintf("acknowledgement covers %d of %d events", acked, len(evs))}
		}
		return len(evs), nil
	}
	if !errors.Is(err, ErrRejected) {
		return 0, err
	}
	if len(evs) == 1 {
		// A platform that rejects event after event with no success in
		// between is refusing everything (a protocol or deployment problem),
		// not poison data: hold the queue rather than quarantine the log.
		if u.rejectRun.Add(1) > maxRejectRun {
			u.rejectRun.Add(-1)
			return 0, &Error{Class: ErrInvalid, Msg: fmt.Sprintf("central rejected %d events in a row and accepted none: holding the queue", maxRejectRun), Err: err}
		}
		if qerr := u.quarantine(ctx, evs, err); qerr != nil {
			u.rejectRun.Add(-1)
			return 0, qerr
		}
		return 1, nil
	}
	u.logs.Warn("batch rejected "+lane, "batch rejected, bisecting", "lane", lane, "events", len(evs), "from", evs[0].Seq, "to", evs[len(evs)-1].Seq, "err", err)
	mid := len(evs) / 2
	n, err := u.deliver(ctx, lane, evs[:mid])
	if err != nil || n < mid {
		return n, err
	}
	m, err := u.deliver(ctx, lane, evs[mid:])
	return mid + m, err
}

// post uploads one batch and returns how many of its events, from the
// start, the central platform's signed acknowledgement covers.
func (u *Uplink) post(ctx context.Context, evs []edge.Event) (int, error) {
	body, err := encode(evs)
	if err != nil {
		return 0, &Error{Class: ErrInvalid, Msg: "encode batch", Err: err}
	}
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", wire.ContentTypeBatch)
	h.Set("Content-Encoding", "gzip")
	ex, err := u.c.do(nctx, http.MethodPost, wire.PathBatches, body, h, wire.MaxAckResponse(len(evs)))
	if err != nil {
		u.noteResult(ex, err)
		return 0, err
	}
	var resp wire.BatchResponse
	if err := json.Unmarshal(ex.Body, &resp); err != nil {
		err = &Error{Class: ErrTransient, Status: ex.Status, Msg: "acknowledgement does not decode", Err: fmt.Errorf("%w: %v", errBadAnswer, err)}
		u.noteResult(ex, err)
		return 0, err
	}
	u.noteResult(ex, nil)
	u.rejectRun.Store(0)
	n := 0
	for n < len(evs) && resp.Covers(evs[n].Epoch, evs[n].Seq) {
		n++
	}
	u.queueFiles(evs[:n])
	sz := 0
	for i := range evs {
		sz += eventSize(&evs[i])
	}
	u.mu.Lock()
	u.avgSize = 0.8*u.avgSize + 0.2*float64(sz)/float64(len(evs))
	u.mu.Unlock()
	return n, nil
}

// quarantine sets a rejected event (or batch) aside: kept in the state store,
// counted, and reported by a gap record appended to the log, which syncs
// like any other event.
func (u *Uplink) quarantine(ctx context.Context, evs []edge.Event, cause error) error {
	first, last := evs[0], evs[len(evs)-1]
	msg := cause.Error()
	status := 0
	var ue *Error
	if errors.As(cause, &ue) {
		status = ue.Status
		if ue.Msg != "" {
			msg = ue.Msg
		}
	}
	q := Quarantined{At: u.clk.Now(), Status: status, Reason: msg, Events: make([]wire.Event, len(evs))}
	for i := range evs {
		q.Events[i] = toWire(&evs[i])
	}
	b, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	key := fmt.Sprintf("%s%016x-%d-%d", QuarantinePrefix, first.Epoch, first.Seq, last.Seq)
	if err := u.o.State.PutState(key, b); err != nil {
		return fmt.Errorf("quarantine %s: %w", key, err)
	}
	u.mu.Lock()
	u.st.Quarantined++
	u.mu.Unlock()
	u.log.Error("events quarantined: the central platform rejected them", "key", key, "events", len(evs), "status", status, "reason", msg)
	// A rejected gap record about an earlier rejection gets no gap record of
	// its own: that would loop.
	if len(evs) == 1 && first.Kind == edge.KindGap && first.Gap != nil && strings.HasPrefix(first.Gap.Reason, rejectedReason) {
		return nil
	}
	gap := edge.Event{
		Kind:     edge.KindGap,
		Priority: edge.DefaultPriority(edge.KindGap),
		Text:     "quarantined",
		Gap: &edge.Gap{
			Epoch: first.Epoch, From: first.Seq, To: last.Seq, Count: uint64(len(evs)),
			Reason: rejectedReason + msg,
		},
	}
	if _, err := u.o.Log.Append(ctx, gap); err != nil {
		return fmt.Errorf("append gap record for %s: %w", key, err)
	}
	return nil
}
