package receiver

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// FuzzQueryStoredEvents stores whatever event the fuzzer makes straight into
// the Badger store (as an older receiver, without the time window, might
// have), then reads it back through every admin query: none may fail, and
// the event comes back as it went in.
func FuzzQueryStoredEvents(f *testing.F) {
	f.Add(int64(1795932000000), true, "alert", "door-1", "open", 1.5, "a1", "firing", "")
	f.Add(int64(253402300800000), true, "alert", "door-1", "", 0.0, "y10k", "firing", "")     // year 10000
	f.Add(int64(-62135596800001), false, "reading", "t", "", math.Inf(1), "", "", "")         // before year 1
	f.Add(int64(math.MaxInt64), false, "gap", "", "\x00\xff", math.NaN(), "", "", "evicted")  // the end of time
	f.Add(int64(math.MinInt64), true, "", "\"<>&", "\u2028", -0.0, "x", "resolved", "reason") // and its beginning
	dir := f.TempDir()
	store, err := OpenBadger(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	rcv, err := New(Options{Store: store, AdminToken: "t"})
	if err != nil {
		f.Fatal(err)
	}
	var seq atomic.Uint64
	f.Fuzz(func(t *testing.T, ms int64, trusted bool, kind, dev, text string, v float64, alertID, alertState, gapReason string) {
		e := wire.Event{Epoch: 1, Seq: seq.Add(1), Time: time.UnixMilli(ms).UTC(), ClockTrusted: trusted, Kind: kind,
			Device: dev, Text: text, Value: v}
		if alertID != "" {
			e.Alert = &wire.Alert{ID: alertID, State: alertState, Message: text}
		}
		if gapReason != "" {
			e.Gap = &wire.Gap{Epoch: 1, From: 1, To: e.Seq, Count: 1, Reason: gapReason}
		}
		if _, _, err := store.StoreBatch("gw", []wire.Event{e}, time.Now()); err != nil {
			return // refused (too large): nothing stored, nothing to query
		}
		last := store.LastCursor()
		for _, path := range []string{"/v1/admin/events?after=" + strconv.FormatUint(last-1, 10), "/v1/admin/alerts", "/v1/admin/gateways", "/v1/admin/events?gateway=gw&limit=3"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer t")
			rcv.ServeHTTP(rec, req)
			if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("GET %s after storing %+v: %d %.300s", path, e, rec.Code, rec.Body)
			}
		}
		page, _, err := store.Events("", last-1, 1)
		if err != nil || len(page) != 1 {
			t.Fatalf("events: %v %v", page, err)
		}
		got, err := page[0].Decode()
		if err != nil {
			t.Fatalf("decode %s: %v", page[0].Event, err)
		}
		same := got.Time.Equal(e.Time) && got.Kind == e.Kind && got.Device == e.Device && got.ClockTrusted == e.ClockTrusted &&
			(got.Value == e.Value || math.IsNaN(got.Value) && math.IsNaN(e.Value)) && (got.Alert == nil) == (e.Alert == nil)
		if !same && validUTF8(kind, dev) {
			t.Fatalf("stored %+v, read back %+v", e, got)
		}
	})
}

// validUTF8 reports whether every s is valid UTF-8 (JSON replaces what is not).
func validUTF8(ss ...string) bool {
	for _, s := range ss {
		for _, r := range s {
			if r == '\uFFFD' {
				return false
			}
		}
	}
	return true
}

// FuzzDecodeRecord: a stored record, whatever its bytes, decodes or fails
// cleanly, and what decodes marshals.
func FuzzDecodeRecord(f *testing.F) {
	e := readings(3, 1, 1)[0]
	e.Alert = &wire.Alert{ID: "a"}
	rec, _ := appendRecord(nil, &e)
	f.Add(rec)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeRecord(b)
		if err != nil {
			return
		}
		if _, err := json.Marshal(&e); err != nil {
			t.Fatalf("decoded record %+v does not marshal: %v", e, err)
		}
	})
}
