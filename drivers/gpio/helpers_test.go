package gpio

import "github.com/edgegw/edgegw/internal/drivertest"

// The shared driver-test helpers, under the short names these tests use.
type collector = drivertest.Collector

var (
	newCollector = drivertest.NewCollector
	isStatus     = drivertest.IsStatus
	needTool     = drivertest.NeedTool
	missing      = drivertest.Missing
)

func opts(s string) drivertest.YAMLOptions { return drivertest.Options(s) }
