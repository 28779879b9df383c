package gpio

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// yamlOptions is edge.Options over a YAML document, strict like the
// gateway's config loader.
type yamlOptions struct {
	data []byte
	node ast.Node
}

func (y yamlOptions) Decode(v any) error {
	if y.node != nil {
		return yaml.NodeToValue(y.node, v, yaml.Strict())
	}
	return yaml.UnmarshalWithOptions(y.data, v, yaml.Strict())
}

func (y yamlOptions) Errorf(field, format string, args ...any) error {
	return fmt.Errorf("options.%s: %s", field, fmt.Sprintf(format, args...))
}

func opts(s string) yamlOptions { return yamlOptions{data: []byte(s)} }

// collector is a Sink that keeps every event.
type collector struct {
	mu   sync.Mutex
	evs  []edge.Event
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) Emit(ev edge.Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) events() []edge.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]edge.Event(nil), c.evs...)
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// waitFor waits until an event at index >= from satisfies pred and returns
// its index; the test fails after d.
func (c *collector) waitFor(t *testing.T, from int, d time.Duration, what string, pred func(edge.Event) bool) int {
	t.Helper()
	deadline := time.After(d)
	for {
		evs := c.events()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i
			}
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("waited %v for %s; events: %+v", d, what, evs[from:])
			return -1
		}
	}
}

func isStatus(dev string, online bool) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindStatus && e.Device == dev && e.IsOnline() == online
	}
}

// needTool fails when CI is set and the tool is missing, and skips otherwise.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("%s is not installed (apt-get install -y %s)", name, pkg))
	}
	return p
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs it in CI: %s", msg)
	}
	t.Skipf("%s; skipping outside CI", msg)
}
