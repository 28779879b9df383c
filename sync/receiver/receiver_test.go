package receiver

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// rig is a receiver on a real HTTP server over a Badger store in a temp dir.
type rig struct {
	t     *testing.T
	dir   string
	store *Badger
	rcv   *Receiver
	srv   *httptest.Server
	key   wire.Key
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	r.open(opts)
	key, err := r.rcv.AddGateway("gw1")
	if err != nil {
		t.Fatal(err)
	}
	r.key = key
	return r
}

func (r *rig) open(opts Options) {
	r.t.Helper()
	store, err := OpenBadger(r.dir, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	opts.Store = store
	rcv, err := New(opts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.store, r.rcv = store, rcv
	r.srv = httptest.NewServer(rcv)
	r.t.Cleanup(r.close)
}

func (r *rig) close() {
	if r.srv != nil {
		r.srv.Close()
		r.store.Close()
		r.srv = nil
	}
}

func (r *rig) restart() {
	r.close()
	r.open(Options{})
}

func readings(epoch, from uint64, n int) []wire.Event {
	ev := make([]wire.Event, n)
	t0 := time.Now().Truncate(time.Second)
	for i := range ev {
		ev[i] = wire.Event{Epoch: epoch, Seq: from + uint64(i), Time: t0.Add(time.Duration(i) * time.Millisecond),
			ClockTrusted: true, Kind: wire.KindReading, Device: fmt.Sprintf("temp-%d", i%7), Point: "temperature",
			Value: 20 + float64(i%50)/10, Unit: "°C"}
	}
	return ev
}

func gz(t testing.TB, raw []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// do sends a signed request as gateway gw with key and returns the answer,
// its body, and the request (for replays).
func (r *rig) do(method, path, gw string, key wire.Key, body []byte, mod func(*http.Request)) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if path == wire.PathBatches {
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", wire.ContentTypeBatch)
	}
	wire.SignRequest(req, gw, key, body, time.Now())
	if mod != nil {
		mod(req)
	}
	return r.send(req)
}

func (r *rig) send(req *http.Request) (*http.Response, []byte) {
	r.t.Helper()
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (r *rig) postBatch(events []wire.Event) wire.BatchResponse {
	r.t.Helper()
	body, err := wire.GzipBatch(events)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, b := r.do("POST", wire.PathBatches, "gw1", r.key, body, nil)
	if resp.StatusCode != 200 {
		r.t.Fatalf("post batch: status %d: %s", resp.StatusCode, b)
	}
	if err := wire.VerifyResponse(resp, r.key, b); err != nil {
		r.t.Fatalf("batch answer signature: %v", err)
	}
	var br wire.BatchResponse
	if err := json.Unmarshal(b, &br); err != nil {
		r.t.Fatal(err)
	}
	return br
}

func (r *rig) count(gw string) int {
	r.t.Helper()
	ev, _, err := r.store.Events(gw, 0, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(ev)
}

func TestBatchStoredOnce(t *testing.T) {
	r := newRig(t, Options{})
	events := readings(77, 1, 500)
	events = append(events, events[10]) // a repeat inside the batch
	br := r.postBatch(events)
	if br.Received != 501 || br.Stored != 500 || br.Duplicates != 1 || !br.CoversAll(events) {
		t.Fatalf("first post: got %+v", br)
	}
	br = r.postBatch(events)
	if br.Stored != 0 || br.Duplicates != 501 || !br.CoversAll(events) {
		t.Fatalf("repeated post: got %+v, want stored 0, duplicates 501", br)
	}
	// Overlapping batch: 250 old, 250 new.
	br = r.postBatch(readings(77, 251, 500))
	if br.Stored != 250 || br.Duplicates != 250 {
		t.Fatalf("overlapping post: got %+v, want stored 250, duplicates 250", br)
	}
	stored, _, _ := r.store.Events("gw1", 0, 10000)
	if len(stored) != 750 {
		t.Fatalf("got %d events stored, want 750", len(stored))
	}
	seen := map[uint64]bool{}
	var last uint64
	for _, s := range stored {
		e, err := s.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if seen[e.Seq] || e.Epoch != 77 || s.Gateway != "gw1" {
			t.Fatalf("bad stored event %+v", s)
		}
		seen[e.Seq] = true
		if s.Cursor <= last {
			t.Fatalf("cursor %d after %d: not in arrival order", s.Cursor, last)
		}
		last = s.Cursor
	}
	for seq := uint64(1); seq <= 750; seq++ {
		if !seen[seq] {
			t.Fatalf("seq %d missing", seq)
		}
	}
}

func TestBadRequestsStoreNothing(t *testing.T) {
	r := newRig(t, Options{MaxBody: 64 << 10, MaxDecoded: 1 << 20})
	otherKey, _ := r.rcv.AddGateway("gw2")
	good, _ := wire.GzipBatch(readings(5, 1, 100))
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte(i * 7919 >> 3)
	}
	huge := readings(5, 1, 3)
	huge[2].Text = strings.Repeat("x", 500<<10) // over a quarter of one transaction (~314 kB)
	hugeEvent, _ := wire.GzipBatch(huge)
	bomb := gz(t, make([]byte, 8<<20)) // 8 MiB of zeros in ~8 kB
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes compressed, want under the body limit", len(bomb))
	}
	cases := []struct {
		name   string
		gw     string
		key    wire.Key
		body   []byte
		mod    func(*http.Request)
		status int
		code   string
	}{
		{"bad hmac", "gw1", otherKey, good, nil, 401, wire.CodeUnauthorized},
		{"tampered body", "gw1", r.key, good, func(q *http.Request) {
			q.Header.Set(wire.HeaderSignature, strings.Repeat("0", 64))
		}, 401, wire.CodeUnauthorized},
		{"unknown gateway", "gw9", r.key, good, nil, 401, wire.CodeUnknownGW},
		{"wrong gateway", "gw2", r.key, good, nil, 401, wire.CodeUnauthorized},
		{"no gateway", "", r.key, good, nil, 401, wire.CodeUnknownGW},
		{"stale timestamp", "gw1", r.key, good, func(q *http.Request) {
			ts := fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())
			q.Header.Set(wire.HeaderTimestamp, ts)
			q.Header.Set(wire.HeaderSignature, wire.Sign(r.key, "POST", wire.PathBatches, ts, q.Header.Get(wire.HeaderNonce), wire.BodyDigest(good)))
		}, 401, wire.CodeClockWindow},
		{"oversized body", "gw1", r.key, big, nil, 413, wire.CodeTooLarge},
		{"gzip bomb", "gw1", r.key, bomb, nil, 413, wire.CodeTooLarge},
		{"malformed json", "gw1", r.key, gz(t, []byte(`{"version":1,"n":3,`)), nil, 400, wire.CodeBadBatch},
		{"bad columns", "gw1", r.key, gz(t, []byte(`{"version":1,"n":2,"strings":[""],"epochs":["1"],"seq":[1],"ts":[0,0],"kind":[0,0]}`)), nil, 400, wire.CodeBadBatch},
		{"not gzip", "gw1", r.key, []byte(`{"version":1}`), nil, 400, wire.CodeBadBatch},
		{"event too large", "gw1", r.key, hugeEvent, nil, 413, wire.CodeTooLarge},
		{"no content-encoding", "gw1", r.key, good, func(q *http.Request) { q.Header.Del("Content-Encoding") }, 415, wire.CodeUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := r.do("POST", wire.PathBatches, c.gw, c.key, c.body, c.mod)
			var er wire.ErrorResponse
			json.Unmarshal(b, &er)
			if resp.StatusCode != c.status || er.Code != c.code {
				t.Errorf("got %d %q (%s), want %d %q", resp.StatusCode, er.Code, er.Error, c.status, c.code)
			}
			if n := r.count(""); n != 0 {
				t.Errorf("got %d events stored, want 0", n)
			}
		})
	}

	// Replayed request: the first is stored, the exact replay is refused.
	req, _ := http.NewRequest("POST", r.srv.URL+wire.PathBatches, bytes.NewReader(good))
	req.Header.Set("Content-Encoding", "gzip")
	wire.SignRequest(req, "gw1", r.key, good, time.Now())
	replay := req.Clone(req.Context())
	replay.Body = io.NopCloser(bytes.NewReader(good))
	if resp, b := r.send(req); resp.StatusCode != 200 {
		t.Fatalf("original: status %d %s", resp.StatusCode, b)
	}
	resp, b := r.send(replay)
	var er wire.ErrorResponse
	json.Unmarshal(b, &er)
	if resp.StatusCode != 401 || er.Code != wire.CodeReplayed {
		t.Errorf("replay: got %d %q, want 401 %q", resp.StatusCode, er.Code, wire.CodeReplayed)
	}
	if n := r.count(""); n != 100 {
		t.Errorf("after replay: got %d events, want 100", n)
	}
}

func TestDedupeSurvivesRestart(t *testing.T) {
	r := newRig(t, Options{})
	first := readings(9, 1, 300)
	if br := r.postBatch(first); br.Stored != 300 {
		t.Fatalf("got %+v", br)
	}
	before, _, _ := r.store.Events("", 0, 10000)
	r.restart()
	br := r.postBatch(append(first, readings(9, 301, 10)...))
	if br.Stored != 10 || br.Duplicates != 300 {
		t.Fatalf("after restart: got %+v, want stored 10, duplicates 300", br)
	}
	after, _, _ := r.store.Events("", before[len(before)-1].Cursor, 10000)
	if len(after) != 10 {
		t.Fatalf("got %d events after the old cursor, want 10", len(after))
	}
	if n := r.count("gw1"); n != 310 {
		t.Fatalf("got %d events, want 310", n)
	}
}

func TestConcurrentOverlappingBatches(t *testing.T) {
	r := newRig(t, Options{})
	var wg gosync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				body, _ := wire.GzipBatch(readings(1, uint64(i*100+1), 200)) // overlaps the next
				req, _ := http.NewRequest("POST", r.srv.URL+wire.PathBatches, bytes.NewReader(body))
				req.Header.Set("Content-Encoding", "gzip")
				wire.SignRequest(req, "gw1", r.key, body, time.Now())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if n := r.count("gw1"); n != 600 {
		t.Fatalf("got %d events, want 600 (seq 1..600 once each)", n)
	}
}

func TestActiveAlerts(t *testing.T) {
	r := newRig(t, Options{})
	alert := func(seq uint64, id, state string) wire.Event {
		return wire.Event{Epoch: 3, Seq: seq, Time: time.Now(), Kind: wire.KindAlert, Priority: 3, Device: "door-1",
			Alert: &wire.Alert{ID: id, Rule: "door-open", State: state, Severity: "high"}}
	}
	r.postBatch([]wire.Event{alert(1, "a", wire.AlertFiring), alert(2, "b", wire.AlertFiring)})
	r.postBatch([]wire.Event{alert(4, "a", wire.AlertResolved), alert(5, "b", wire.AlertAcknowledged), alert(3, "b", wire.AlertFiring)})
	resp, b := r.admin("GET", "/v1/admin/alerts", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, b)
	}
	var out struct{ Alerts []ActiveAlert }
	json.Unmarshal(b, &out)
	if len(out.Alerts) != 1 || out.Alerts[0].Alert.ID != "b" || out.Alerts[0].Alert.State != wire.AlertAcknowledged || out.Alerts[0].Seq != 5 {
		t.Fatalf("got %+v, want only b acknowledged at seq 5", out.Alerts)
	}
}

func (r *rig) admin(method, path string, body any) (*http.Response, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.srv.URL+path, rd)
	return r.send(req)
}

func TestBadgerFiles(t *testing.T) {
	b, err := OpenBadger(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.PutFile("gw1", "a.jpg", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutFile("gw1", "a.jpg", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.File("gw1", "a.jpg"); err != nil || string(got) != "two" {
		t.Errorf("got %q, %v, want two", got, err)
	}
	if _, err := b.File("gw10", "a.jpg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("other gateway: got %v, want ErrNotFound", err)
	}
}
