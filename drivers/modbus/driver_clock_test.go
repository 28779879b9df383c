package modbus

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus/modbustest"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// countOpens wraps the opener of the master of d's port, so a test sees
// every attempt to open it. It must run before the driver does.
func countOpens(t *testing.T, d *Driver, clock edge.Clock) func() int {
	t.Helper()
	c, release, err := acquireMaster(d.line, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	m := c.(*Master)
	var mu sync.Mutex
	n := 0
	open := m.open
	m.open = func(ctx context.Context) (Port, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return open(ctx)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestDriverReconnectBackoff: a port that cannot be opened is retried
// with the jittered exponential backoff (edge.Backoff) on the driver's
// clock, the devices go offline once, and the log says so once.
func TestDriverReconnectBackoff(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	var logs syncBuffer
	d, err := New(edge.Env{Name: "bus", Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, opts(`
port: `+t.TempDir()+`/no-such-tty
devices:
  - {id: a, slave: 1, points: [{name: v, table: holding, address: 0}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	d.backoffMin, d.backoffMax = time.Second, 4*time.Second
	tries := countOpens(t, d, clock)
	sink := runDriver(t, d)
	for i := 1; i <= 5; i++ {
		if !clock.BlockUntil(1, 5*time.Second) {
			t.Fatalf("attempt %d: the driver is not waiting on its clock", i)
		}
		if got := tries(); got != i {
			t.Fatalf("got %d attempts to open, want %d", got, i)
		}
		next, _ := clock.Next()
		wait := next.Sub(clock.Now())
		hi := min(time.Second<<(i-1), 4*time.Second)
		if wait < hi/2 || wait > hi {
			t.Errorf("wait %d: got %v, want between %v and %v", i, wait, hi/2, hi)
		}
		clock.Advance(wait)
	}
	offs := 0
	for _, e := range sink.Events() {
		if e.Kind == edge.KindStatus && !e.IsOnline() {
			offs++
		}
	}
	if offs != 1 {
		t.Errorf("%d offline events, want 1", offs)
	}
	if n := strings.Count(logs.String(), "modbus port down"); n != 1 {
		t.Errorf("port down logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestDriverLogThrottle: a dead slave fails every poll; its error is
// logged once a minute of the driver's clock (edge.LogThrottle), with the
// count of the lines kept quiet.
func TestDriverLogThrottle(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	serveOn(t, pair, modbustest.New(map[byte]*modbustest.Bank{1: newBank()})) // slave 2 is dead
	clock := fakeclock.New(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	var logs syncBuffer
	d, err := New(edge.Env{Name: "bus", Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, opts(`
port: `+pair.Path()+`
baud: 115200
timeout: 20ms
groups: [{name: g, interval: 10s}]
devices:
  - {id: dead, slave: 2, points: [{name: v, table: holding, address: 0}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	// The master measures its transactions in real time; the driver's
	// polls and its log throttle run on the fake clock.
	countOpens(t, d, edge.SystemClock{})
	runDriver(t, d)
	poll := func() {
		t.Helper()
		if !clock.BlockUntil(1, 5*time.Second) {
			t.Fatal("the driver is not waiting for its next poll")
		}
		clock.Advance(10 * time.Second)
	}
	failures := func() uint64 { return d.Stats()[0].Errors }
	for range 3 { // three failed polls within the first minute
		n := failures()
		poll()
		waitUntil(t, 5*time.Second, "the poll to fail", func() bool { return failures() > n })
	}
	if n := strings.Count(logs.String(), "modbus request failed"); n != 1 {
		t.Fatalf("logged %d times in the first 30s, want once:\n%s", n, logs.String())
	}
	clock.Advance(time.Minute)
	n := failures()
	poll()
	waitUntil(t, 5*time.Second, "the poll to fail", func() bool { return failures() > n })
	waitUntil(t, 5*time.Second, "the next line", func() bool { return strings.Count(logs.String(), "modbus request failed") == 2 })
	if !strings.Contains(logs.String(), "suppressed=") {
		t.Errorf("the second line does not count the quiet ones:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
