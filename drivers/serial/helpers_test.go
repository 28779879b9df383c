package serial

import (
	"fmt"
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

// collector is a Sink that keeps every event.
type collector struct {
	mu   sync.Mutex
	evs  []edge.Event
	fail error // returned by Emit when set
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) Emit(ev edge.Event) error {
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

func (c *collector) events() []edge.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]edge.Event(nil), c.evs...)
}

// waitFor waits until some event after index from satisfies pred and
// returns its index.
func (c *collector) waitFor(t *testing.T, from int, what string, d time.Duration, pred func(edge.Event) bool) int {
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
			t.Fatalf("waited %v for %s; events: %+v", d, what, evs)
		}
	}
}

func isStatus(dev string, online bool) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindStatus && e.Device == dev && e.IsOnline() == online
	}
}
