package gsm

import (
	"os"
	"testing"

	"github.com/edgegw/edgegw/drivers/serialport"
)

// TestMain keeps the tests' port lock files out of /run/lock.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gsm-locks-")
	if err != nil {
		panic(err)
	}
	os.Setenv(serialport.LockDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
