package serial

import (
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
)

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
