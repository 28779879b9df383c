package gpio

import (
	"os"
	"testing"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestMain keeps the tests' port lock files out of /run/lock.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpio-locks-")
	if err != nil {
		panic(err)
	}
	os.Setenv(serialport.LockDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The shared driver-test helpers, under the short names these tests use.
type collector = drivertest.Collector

var (
	newCollector = drivertest.NewCollector
	isStatus     = drivertest.IsStatus
	needTool     = drivertest.NeedTool
	missing      = drivertest.Missing
)

func opts(s string) drivertest.YAMLOptions { return drivertest.Options(s) }
