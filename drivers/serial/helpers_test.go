package serial

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestMain keeps the tests' port lock files out of /run/lock.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "serial-locks-")
	if err != nil {
		panic(err)
	}
	os.Setenv(serialport.LockDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The shared driver-test helpers, under the names these tests use.
type yamlOptions = drivertest.YAMLOptions

var isStatus = drivertest.IsStatus

// collector keeps every event; its waitFor takes (from, what, d) in the
// order these tests were written with.
type collector struct{ *drivertest.Collector }

func newCollector() *collector { return &collector{drivertest.NewCollector()} }

func (c *collector) events() []edge.Event { return c.Events() }

func (c *collector) waitFor(t *testing.T, from int, what string, d time.Duration, pred func(edge.Event) bool) int {
	t.Helper()
	return c.WaitFor(t, from, d, what, pred)
}

// notifyBuf is an io.Writer a test can wait on: waitFor returns once the
// text written so far contains s.
type notifyBuf struct {
	mu   sync.Mutex
	b    bytes.Buffer
	more chan struct{}
}

func newNotifyBuf() *notifyBuf { return &notifyBuf{more: make(chan struct{}, 1)} }

func (n *notifyBuf) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case n.more <- struct{}{}:
	default:
	}
	return n.b.Write(p)
}

func (n *notifyBuf) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

func (n *notifyBuf) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(n.String(), s) {
		select {
		case <-n.more:
		case <-deadline:
			t.Fatalf("waited %v for %q in:\n%s", d, s, n.String())
		}
	}
}

// eventually waits until cond holds, checking every millisecond; the test
// fails after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}
