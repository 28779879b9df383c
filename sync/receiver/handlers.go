package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// minEventTime is the earliest time a trusted clock can stamp an event with.
var minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// storeCostPerEvent is what storing one decoded event costs beyond its
// decoding: its record, the group commit's bookkeeping, Badger's entry.
const storeCostPerEvent = 256

func (r *Receiver) handleBatch(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	log := r.log.With("gateway", a.gw.ID)
	key := &a.gw.Key
	if ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); ce != "gzip" {
		r.fail(w, log, req, key, now, wire.CodeUnsupported, fmt.Sprintf("batch Content-Encoding %q: want gzip", ce))
		return
	}
	// Decompress into a buffer reserved from the budget, then reserve what
	// decoding it costs before decoding: a gzip bomb or a batch of a million
	// minimal events costs its reservation, no more.
	raw, err := wire.Gunzip(a.body, r.opts.MaxDecoded, a.charge.reserve)
	switch {
	case errors.Is(err, errOverBudget), errors.Is(err, errBusy), errors.Is(err, errGatewayBusy):
		r.failReserve(w, log, req, key, now, err, "decompress batch")
		return
	case errors.Is(err, wire.ErrTooLarge):
		r.fail(w, log, req, key, now, wire.CodeTooLarge, err.Error())
		return
	case err != nil:
		r.fail(w, log, req, key, now, wire.CodeBadBatch, err.Error())
		return
	}
	if err := a.charge.reserve(wire.DecodeCost(raw)); err != nil {
		r.failReserve(w, log, req, key, now, err, "decode batch")
		return
	}
	events, err := wire.DecodeBatch(raw)
	if err != nil {
		r.fail(w, log, req, key, now, wire.CodeBadBatch, err.Error())
		return
	}
	if err := a.charge.reserve(int64(len(events)) * storeCostPerEvent); err != nil {
		r.failReserve(w, log, req, key, now, err, "store batch")
		return
	}
	if i := r.badTime(events, now); i >= 0 {
		e := &events[i]
		r.fail(w, log, req, key, now, wire.CodeBadEvent, fmt.Sprintf(
			"event %d/%d (%s): its time %s comes from a clock the gateway trusts, but it is before 2000 or more than %s past the receiver's clock %s: nothing of the batch is stored",
			e.Epoch, e.Seq, e.Kind, timeText(e.Time), r.opts.FutureWindow, now.UTC().Format(time.RFC3339)))
		return
	}
	stored, dups, err := r.store.StoreBatch(a.gw.ID, events, now)
	if errors.Is(err, ErrEventTooLarge) {
		r.fail(w, log, req, key, now, wire.CodeTooLarge, err.Error())
		return
	}
	if err != nil {
		r.failStore(w, log, req, key, now, "store batch", err)
		return
	}
	writeJSON(w, req, key, r.clk.Now(), http.StatusOK, wire.BatchResponse{
		Received: len(events), Stored: stored, Duplicates: dups, Acked: wire.AckRanges(events)})
}

// badTime returns the index of the first event whose time is impossible for
// the clock that stamped it, or -1. A time is impossible when the gateway
// says its clock was trusted and the time is before 2000 or more than
// FutureWindow past the receiver's clock: such an event is refused (422),
// the gateway quarantines it with a gap record. An event the gateway marks
// untrusted (no RTC, not synced, jumped) is stored with that flag whatever
// its time: time is a hint, and the skew its heartbeats report may correct
// it.
func (r *Receiver) badTime(events []wire.Event, now time.Time) int {
	latest := now.Add(r.opts.FutureWindow)
	for i := range events {
		if t := events[i].Time; events[i].ClockTrusted && (t.Before(minEventTime) || t.After(latest)) {
			return i
		}
	}
	return -1
}

// timeText writes t as RFC 3339, or as milliseconds since 1970 when its
// year does not fit RFC 3339.
func timeText(t time.Time) string {
	if wire.TimeFitsJSON(t) {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(t.UnixMilli(), 10) + " ms since 1970"
}

func (r *Receiver) handleConfig(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	b, err := r.store.Config(a.gw.ID)
	if errors.Is(err, ErrNotFound) {
		r.fail(w, nil, req, key, now, wire.CodeNotFound, "no config for gateway "+a.gw.ID)
		return
	} else if err != nil {
		r.fail(w, r.log, req, key, now, wire.CodeInternal, "load config: "+err.Error())
		return
	}
	w.Header().Set("ETag", b.ETag)
	if inm := req.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, b.ETag) {
		writeJSON(w, req, key, now, http.StatusNotModified, nil)
		return
	}
	writeJSON(w, req, key, now, http.StatusOK, b)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (r *Receiver) handleCommands(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	var after uint64
	if s := req.URL.Query().Get("after"); s != "" {
		var err error
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			r.fail(w, nil, req, key, now, wire.CodeBadRequest, fmt.Sprintf("after=%q: want a command id", s))
			return
		}
	}
	entries, err := r.store.Commands(a.gw.ID, after, wire.MaxCommands, true)
	if err != nil {
		r.failStore(w, r.log, req, key, now, "load commands", err)
		return
	}
	list := wire.CommandList{Commands: make([]wire.Command, 0, len(entries))}
	for _, e := range entries {
		list.Commands = append(list.Commands, e.Command)
	}
	writeJSON(w, req, key, now, http.StatusOK, list)
}

func (r *Receiver) handleResult(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	id, err := strconv.ParseUint(req.PathValue("id"), 10, 64)
	if err != nil {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, fmt.Sprintf("command id %q: want a number", req.PathValue("id")))
		return
	}
	// The attachment decodes from base64 to 3/4 of the body; storing it
	// copies it once more.
	if err := a.charge.reserve(int64(len(a.body)) * 3 / 2); err != nil {
		r.failReserve(w, r.log, req, key, now, err, "command result")
		return
	}
	var res wire.CommandResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, "command result: "+err.Error())
		return
	}
	if len(res.Attachment) > wire.MaxAttachment {
		r.fail(w, r.log, req, key, now, wire.CodeTooLarge, fmt.Sprintf("command result: attachment of %d bytes, the limit is %d", len(res.Attachment), wire.MaxAttachment))
		return
	}
	if res.Finished.IsZero() || !wire.TimeFitsJSON(res.Finished) {
		res.Finished = now.UTC()
	}
	first, err := r.store.PutResult(a.gw.ID, id, res)
	if errors.Is(err, ErrNotFound) {
		r.fail(w, nil, req, key, now, wire.CodeNotFound, err.Error())
		return
	} else if err != nil {
		r.failStore(w, r.log, req, key, now, "store result", err)
		return
	}
	if first {
		r.log.Info("command result", "gateway", a.gw.ID, "command", id, "ok", res.OK, "error", res.Error, "attachment_bytes", len(res.Attachment))
	}
	writeJSON(w, req, key, now, http.StatusOK, map[string]bool{"ok": true})
}

func (r *Receiver) handleHeartbeat(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	var hb wire.Heartbeat
	if err := json.Unmarshal(a.body, &hb); err != nil {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, "heartbeat: "+err.Error())
		return
	}
	if !wire.TimeFitsJSON(hb.Time) || !wire.TimeFitsJSON(hb.OldestUnsynced) {
		// A broken clock: keep the heartbeat, not the times it cannot store.
		hb.Time, hb.OldestUnsynced = time.Time{}, time.Time{}
	}
	if err := r.store.PutHeartbeat(a.gw.ID, hb, now.UTC()); err != nil {
		r.failStore(w, r.log, req, key, now, "store heartbeat", err)
		return
	}
	r.learnBoot(a.gw.ID, &hb, now)
	resp := wire.HeartbeatResponse{ServerTime: now.UTC()}
	if b, err := r.store.Config(a.gw.ID); err == nil {
		resp.ConfigVersion = b.Version
	}
	if cmds, err := r.store.Commands(a.gw.ID, 0, wire.MaxCommands, true); err == nil {
		resp.PendingCommands = len(cmds)
	}
	resp.Release = r.offer(a.gw, hb.Update, now)
	writeJSON(w, req, key, now, http.StatusOK, resp)
}

// handleFile stores a file an event of the gateway names (a camera
// picture): PUT /v1/files/{name}, the body the file's bytes.
func (r *Receiver) handleFile(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	name := req.PathValue("name")
	if !wire.ValidFileName(name) {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, fmt.Sprintf("file name %q: want 1 to 128 of A-Z a-z 0-9 . _ -, not starting with a dot", name))
		return
	}
	if err := r.store.PutFile(a.gw.ID, name, a.body); err != nil {
		r.failStore(w, r.log, req, key, now, "store file", err)
		return
	}
	r.log.Debug("file stored", "gateway", a.gw.ID, "name", name, "bytes", len(a.body))
	writeJSON(w, req, key, now, http.StatusOK, map[string]any{"ok": true, "bytes": len(a.body)})
}
