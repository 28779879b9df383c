// Package drivertest has the helpers the driver packages' tests share: strict
// YAML options, a collecting sink, and the CI rule for missing tools.
package drivertest

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/edgegw/edgegw/edge"
)

// YAMLOptions is edge.Options over a YAML document (or an already parsed
// node), strict like the gateway's config loader.
type YAMLOptions struct {
	Data []byte
	Node ast.Node
}

// Options returns the options of YAML document s.
func Options(s string) YAMLOptions { return YAMLOptions{Data: []byte(s)} }

func (y YAMLOptions) Decode(v any) error {
	if y.Node != nil {
		return yaml.NodeToValue(y.Node, v, yaml.Strict())
	}
	return yaml.UnmarshalWithOptions(y.Data, v, yaml.Strict())
}

func (y YAMLOptions) Errorf(field, format string, args ...any) error {
	return fmt.Errorf("options.%s: %s", field, fmt.Sprintf(format, args...))
}

// Collector is a Sink that keeps every event.
type Collector struct {
	mu   sync.Mutex
	evs  []edge.Event
	fail error
	more chan struct{}
}

// SetFail makes Emit return err (after keeping the event), as a full core
// queue would.
func (c *Collector) SetFail(err error) {
	c.mu.Lock()
	c.fail = err
	c.mu.Unlock()
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{more: make(chan struct{}, 1)} }

func (c *Collector) Emit(ev edge.Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	err := c.fail
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
	return err
}

// Events returns a copy of the events so far.
func (c *Collector) Events() []edge.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]edge.Event(nil), c.evs...)
}

// Len is the number of events so far.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// WaitFor waits until an event at index >= from satisfies pred and returns
// its index; the test fails after d.
func (c *Collector) WaitFor(t *testing.T, from int, d time.Duration, what string, pred func(edge.Event) bool) int {
	t.Helper()
	deadline := time.After(d)
	for {
		evs := c.Events()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i
			}
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("waited %v for %s; events: %+v", d, what, evs[min(from, len(evs)):])
			return -1
		}
	}
}

// IsStatus matches a device's online or offline status event.
func IsStatus(dev string, online bool) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindStatus && e.Device == dev && e.IsOnline() == online
	}
}

// NeedTool returns the path of a command the test needs. It fails when CI
// is set and the tool is missing, and skips otherwise.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, fmt.Sprintf("%s is not installed (apt-get install -y %s)", name, pkg))
	}
	return p
}

// Missing fails in CI and skips elsewhere.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs it in CI: %s", msg)
	}
	t.Skipf("%s; skipping outside CI", msg)
}
