package modbus

import (
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/drivertest"
)

// The shared driver-test helpers, under the short names these tests use.
type collector = drivertest.Collector

var (
	newCollector = drivertest.NewCollector
	isStatus     = drivertest.IsStatus
	needTool     = drivertest.NeedTool
	missing      = drivertest.Missing
)

func opts(s string) drivertest.YAMLOptions { return drivertest.Options(s) }

// waitUntil waits for cond, looking every millisecond, and fails the test
// after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
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
