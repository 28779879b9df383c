package uplink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// testCentral is a central platform for the uplink's unit tests: it speaks
// the protocol through sync/wire (verify, decode, dedupe, sign) and lets a
// test inject refusals and faults. The end-to-end tests run the real
// receiver in its own process.
type testCentral struct {
	t   *testing.T
	key wire.Key
	srv *httptest.Server

	mu         sync.Mutex
	seenSig    map[string]bool
	stored     map[[2]uint64]int // (epoch, seq) -> times stored (must stay 1)
	arrival    []wire.Event      // in the order stored
	requests   map[string]int    // path -> requests that passed auth
	nonces     []string          // of POST /v1/batches attempts that passed auth
	reject     func([]wire.Event) (int, string)
	fail       func(r *http.Request) (status int, retryAfter string)
	forgeAck   bool
	ackNone    bool // answer batches 200, signed, acknowledging nothing (and storing nothing)
	forgeCmds  bool
	bundle     *wire.ConfigBundle
	commands   []wire.Command
	results    map[uint64]wire.CommandResult
	heartbeats []wire.Heartbeat
	dateShift  time.Duration
}

func newTestCentral(t *testing.T) *testCentral {
	t.Helper()
	key, err := wire.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &testCentral{t: t, key: key, seenSig: map[string]bool{}, stored: map[[2]uint64]int{},
		requests: map[string]int{}, results: map[uint64]wire.CommandResult{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *testCentral) reply(w http.ResponseWriter, r *http.Request, status int, v any, key wire.Key) {
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	if c.dateShift != 0 {
		w.Header().Set("Date", time.Now().Add(c.dateShift).UTC().Format(http.TimeFormat))
	}
	wire.SignResponseHeaders(w.Header(), key, r, status, body, time.Now())
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	w.Write(body)
}

func (c *testCentral) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := wire.VerifyRequest(r, c.key, body, time.Now(), 0); err != nil {
		c.reply(w, r, http.StatusUnauthorized, wire.ErrorResponse{Error: err.Error(), Code: wire.CodeUnauthorized}, c.key)
		return
	}
	c.mu.Lock()
	sig := r.Header.Get(wire.HeaderSignature)
	if c.seenSig[sig] {
		c.mu.Unlock()
		c.reply(w, r, http.StatusUnauthorized, wire.ErrorResponse{Error: "replayed", Code: wire.CodeReplayed}, c.key)
		return
	}
	c.seenSig[sig] = true
	c.requests[r.URL.Path]++
	if r.URL.Path == wire.PathBatches {
		c.nonces = append(c.nonces, r.Header.Get(wire.HeaderNonce))
	}
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		if st, ra := fail(r); st != 0 {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			c.reply(w, r, st, wire.ErrorResponse{Error: "injected", Code: "injected"}, c.key)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case r.URL.Path == wire.PathBatches:
		evs, err := wire.ReadBatch(bytes.NewReader(body), 0)
		if err != nil {
			c.reply(w, r, http.StatusBadRequest, wire.ErrorResponse{Error: err.Error(), Code: wire.CodeBadBatch}, c.key)
			return
		}
		if c.reject != nil {
			if st, msg := c.reject(evs); st != 0 {
				c.reply(w, r, st, wire.ErrorResponse{Error: msg, Code: wire.CodeBadBatch}, c.key)
				return
			}
		}
		resp := wire.BatchResponse{Received: len(evs), Acked: wire.AckRanges(evs)}
		if c.ackNone {
			c.reply(w, r, http.StatusOK, wire.BatchResponse{Received: len(evs), Acked: []wire.Range{}}, c.key)
			return
		}
		for _, e := range evs {
			id := [2]uint64{e.Epoch, e.Seq}
			if c.stored[id] > 0 {
				resp.Duplicates++
				continue
			}
			c.stored[id]++
			resp.Stored++
			c.arrival = append(c.arrival, e)
		}
		key := c.key
		if c.forgeAck {
			key = wire.Key{1}
		}
		c.reply(w, r, http.StatusOK, resp, key)
	case r.URL.Path == wire.PathConfig:
		if c.bundle == nil {
			c.reply(w, r, http.StatusNotFound, wire.ErrorResponse{Error: "no config", Code: wire.CodeNotFound}, c.key)
			return
		}
		if r.Header.Get("If-None-Match") == c.bundle.ETag {
			w.Header().Set("ETag", c.bundle.ETag)
			c.reply(w, r, http.StatusNotModified, nil, c.key)
			return
		}
		w.Header().Set("ETag", c.bundle.ETag)
		c.reply(w, r, http.StatusOK, c.bundle, c.key)
	case r.URL.Path == wire.PathCommands:
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		var list wire.CommandList
		for _, cmd := range c.commands {
			if _, done := c.results[cmd.ID]; cmd.ID > after && !done {
				list.Commands = append(list.Commands, cmd)
			}
		}
		if list.Commands == nil {
			list.Commands = []wire.Command{}
		}
		key := c.key
		if c.forgeCmds {
			key = wire.Key{2}
		}
		c.reply(w, r, http.StatusOK, list, key)
	case strings.HasPrefix(r.URL.Path, wire.PathCommands+"/") && strings.HasSuffix(r.URL.Path, "/result"):
		id, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, wire.PathCommands+"/"), "/result"), 10, 64)
		var res wire.CommandResult
		json.Unmarshal(body, &res)
		c.results[id] = res
		c.reply(w, r, http.StatusOK, map[string]bool{"ok": true}, c.key)
	case r.URL.Path == wire.PathHeartbeat:
		var hb wire.Heartbeat
		json.Unmarshal(body, &hb)
		c.heartbeats = append(c.heartbeats, hb)
		c.reply(w, r, http.StatusOK, wire.HeartbeatResponse{ServerTime: time.Now()}, c.key)
	default:
		c.reply(w, r, http.StatusNotFound, wire.ErrorResponse{Error: "no such path", Code: wire.CodeNotFound}, c.key)
	}
}

// snapshot returns the arrival order and the duplicates stored (must be none).
func (c *testCentral) snapshot() (arrival []wire.Event, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.stored {
		if n > 1 {
			dups++
		}
	}
	return append([]wire.Event(nil), c.arrival...), dups
}

func (c *testCentral) with(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

// morePolls waits until n more requests to path have passed auth.
func (c *testCentral) morePolls(t *testing.T, path string, n int) {
	t.Helper()
	var start int
	c.with(func() { start = c.requests[path] })
	eventually(t, fmt.Sprintf("%d more requests to %s", n, path), func() bool {
		var now int
		c.with(func() { now = c.requests[path] })
		return now >= start+n
	})
}
