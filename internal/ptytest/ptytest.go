// Package ptytest gives tests a serial cable made of pseudo-terminals: the
// code under test opens a stable path with go.bug.st/serial, as it would open
// /dev/ttyUSB0, and the test plays the device on the far end. The cable can
// be unplugged and plugged back in, which is how a vanishing USB adapter
// looks to the driver.
package ptytest

import (
	"os"
	"os/exec"
	"testing"
)

// needTool fails the test when a required external tool is missing and CI is
// set, and skips it otherwise.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required by this test and is not installed (apt-get install -y %s)", name, name)
		}
		t.Skipf("%s not installed (apt-get install -y %s); skipping outside CI", name, name)
	}
	return p
}
