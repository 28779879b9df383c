//go:build unix

package gpio

import (
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestModemLinesOnPTY runs the driver on a real pty with go.bug.st/serial.
// Linux ptys do not implement TIOCMGET (ENOTTY), so the logic is tested
// with a fake port (TestModemLinesPort); here the driver must open the
// real port and report the unsupported ioctl clearly as the devices'
// offline reason, not crash or stay silent.
func TestModemLinesOnPTY(t *testing.T) {
	pair := ptytest.New(t)
	m, err := NewModem(edge.Env{Name: "lines"}, opts("port: "+pair.Path()+"\ninterval: 5ms\ndevices: [{id: a, points: [{name: c, signal: cts}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m.backoff.Min, m.backoff.Max = 5*time.Millisecond, 10*time.Millisecond
	sink := run(t, m)
	i := sink.WaitFor(t, 0, 5*time.Second, "a status", func(e edge.Event) bool { return e.Kind == edge.KindStatus })
	e := sink.Events()[i]
	if e.IsOnline() {
		// A pty that implements TIOCMGET: then the line must read too.
		sink.WaitFor(t, i, 5*time.Second, "cts state", func(e edge.Event) bool { return e.Kind == edge.KindState && e.Point == "c" })
		return
	}
	if !strings.Contains(e.Text, "modem") || !strings.Contains(e.Text, pair.Path()) || !strings.Contains(e.Text, "ioctl") {
		t.Errorf("offline reason %q: want it to say the modem status lines of the port cannot be read (ioctl)", e.Text)
	}
}
