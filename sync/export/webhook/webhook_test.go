package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/export/exporttest"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
)

var secret = []byte("s3cret")

// sink is the district platform's endpoint: it checks signatures, counts
// each key, and fails, stalls or refuses on demand.
type sink struct {
	t        *testing.T
	mu       gosync.Mutex
	seen     map[string]int
	last     map[string]Event // the last delivery of each key
	requests atomic.Int64
	fail     func(n int64, key string) int // status to answer instead of 200, or 0
	stall    atomic.Bool
	stalled  chan struct{}
	release  chan struct{}
}

func newSink(t *testing.T) *sink {
	return &sink{t: t, seen: map[string]int{}, last: map[string]Event{}, stalled: make(chan struct{}, 100), release: make(chan struct{}),
		fail: func(int64, string) int { return 0 }}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return
	}
	if err := Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), time.Minute); err != nil {
		s.t.Errorf("request %d: %v", n, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	key := r.Header.Get(HeaderIdempotency)
	if s.stall.Load() {
		s.stalled <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	if code := s.fail(n, key); code != 0 {
		http.Error(w, "injected", code)
		return
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		s.t.Errorf("request %d: %v", n, err)
		return
	}
	s.mu.Lock()
	for _, e := range b.Events {
		s.seen[e.Key]++
		s.last[e.Key] = e
	}
	s.mu.Unlock()
}

func (s *sink) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// serve serves s on addr ("127.0.0.1:0" for a free port) until stopped.
func (s *sink) serve(t *testing.T, addr string) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	exporttest.WaitFor(t, 30*time.Second, what, cond)
}

func start(t *testing.T, c *exporttest.Central, url string) (*Exporter, func()) {
	t.Helper()
	e, err := New(Config{URL: url, Secret: secret, Timeout: 300 * time.Millisecond, MaxEvents: 100,
		Options: export.Options{Scopes: []string{"putuo/caoyang"}, MaxAttempts: 10000,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	js := c.Store.JetStream()
	go func() { done <- e.Run(ctx, js) }()
	return e, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// Every event reaches the endpoint at least once, through failures,
// stalls, a restart of the endpoint and a restart of the central; the
// keys count each once.
func TestDelivery(t *testing.T) {
	dir := t.TempDir()
	c := exporttest.Open(t, dir)
	c.AddGateway(t, "gw1", "putuo/caoyang/c012/cp07")
	c.AddGateway(t, "gw2", "putuo/other/c1/cp1")

	s := newSink(t)
	// The first requests: 500, a stall (past the 300ms timeout), 503.
	s.fail = func(n int64, _ string) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 3:
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv, addr := s.serve(t, "127.0.0.1:0")
	e, stop := start(t, c, "http://"+addr+"/hook")
	s.stall.Store(true)
	c.Put(t, "gw1", exporttest.Readings(7, 1, 300))
	c.Put(t, "gw2", exporttest.Readings(7, 1, 50)) // out of scope
	<-s.stalled
	s.stall.Store(false)
	waitFor(t, "the first 300", func() bool { return s.unique() == 300 })

	// The endpoint goes away, and comes back on the same address.
	srv.Close()
	failed := e.Metrics().Failed.Load()
	c.Put(t, "gw1", exporttest.Readings(7, 301, 300))
	waitFor(t, "refused connections", func() bool { return e.Metrics().Failed.Load() >= failed+2 })
	s.serve(t, addr)
	waitFor(t, "600 after the endpoint's restart", func() bool { return s.unique() == 600 })

	// The central goes down with a message in the exporter's hands.
	s.stall.Store(true)
	c.Put(t, "gw1", exporttest.Readings(7, 601, 300))
	<-s.stalled
	stop()
	c.Close()
	s.stall.Store(false)

	c = exporttest.Open(t, dir)
	c.Put(t, "gw1", exporttest.Readings(8, 1, 100)) // the gateway's new epoch
	_, stop = start(t, c, "http://"+addr+"/hook")
	defer stop()
	waitFor(t, "1000 after the central's restart", func() bool { return s.unique() == 1000 })

	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for k, n := range s.seen {
		if !strings.HasPrefix(k, "gw1/7/") && !strings.HasPrefix(k, "gw1/8/") {
			t.Errorf("key %s: not in scope", k)
		}
		total += n
	}
	t.Logf("%d requests, %d deliveries of 1000 events", s.requests.Load(), total)
	// Each event carries its full path and its device's levels.
	for key, want := range map[string][4]string{
		"gw1/7/1": {"putuo/caoyang/c012/cp07/3/2/301", "3", "2", "301"},
		"gw1/7/2": {"putuo/caoyang/c012/cp07/5", "5", "", ""},
		"gw1/7/3": {"putuo/caoyang/c012/cp07", "", "", ""},
	} {
		e := s.last[key]
		if got := [4]string{e.Path, e.Building, e.Unit, e.Household}; got != want {
			t.Errorf("%s: got path, building, unit, household %q, want %q", key, got, want)
		}
	}
}

// An endpoint that refuses a request MaxAttempts times makes dead letters:
// counted, acknowledged, and what follows is delivered.
func TestDeadLetters(t *testing.T) {
	c := exporttest.Open(t, t.TempDir())
	c.AddGateway(t, "gw-bad", "putuo/caoyang/c1/cp1")
	c.AddGateway(t, "gw1", "putuo/caoyang/c1/cp2")
	s := newSink(t)
	s.fail = func(_ int64, key string) int {
		if strings.HasPrefix(key, "gw-bad/") {
			return http.StatusUnprocessableEntity
		}
		return 0
	}
	_, addr := s.serve(t, "127.0.0.1:0")
	e, err := New(Config{URL: "http://" + addr, Secret: secret, Timeout: time.Second,
		Options: export.Options{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx, c.Store.JetStream())
	c.Put(t, "gw-bad", append(exporttest.Readings(1, 1, 4), exporttest.Alert(1, 5, "firing")))
	c.Put(t, "gw1", exporttest.Readings(1, 1, 10))
	waitFor(t, "the good events", func() bool { return s.unique() == 10 })
	// Counted once the answer is back, after the endpoint saw the keys.
	waitFor(t, "the good events counted", func() bool { return e.Metrics().Delivered.Load() >= 10 })
	waitFor(t, "the dead letters", func() bool { return e.Metrics().Dead.Load() == 5 })
	if got := e.Metrics().Failed.Load(); got != 3 {
		t.Errorf("failed attempts: got %d, want 3", got)
	}
	if got := e.Metrics().Delivered.Load(); got != 10 {
		t.Errorf("delivered: got %d, want 10", got)
	}
	// Acknowledged: nothing pending on the consumer.
	waitFor(t, "the consumer to be drained", func() bool {
		cons, err := c.Store.JetStream().Consumer(ctx, jsstore.StreamEvents, "export-webhook")
		if err != nil {
			return false
		}
		ci, err := cons.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"events":[]}`)
	sig := Sign(secret, "1800000000", body)
	for _, tc := range []struct {
		name, ts, sig string
		body          []byte
		ok            bool
	}{
		{"good", "1800000000", sig, body, true},
		{"other body", "1800000000", sig, []byte(`{}`), false},
		{"other timestamp", "1800000001", sig, body, false},
		{"old", "1799990000", Sign(secret, "1799990000", body), body, false},
		{"not a number", "x", Sign(secret, "x", body), body, false},
	} {
		err := Verify(secret, tc.ts, tc.sig, tc.body, now, 5*time.Minute)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrSignature)) {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
