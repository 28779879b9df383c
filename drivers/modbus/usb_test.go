package modbus

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus/modbustest"
	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// plugged is an enumeration the test changes as it plugs adapters.
type plugged struct {
	mu    sync.Mutex
	ports []serialport.PortInfo
}

func (p *plugged) Ports() ([]serialport.PortInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]serialport.PortInfo(nil), p.ports...), nil
}

func (p *plugged) set(ports ...serialport.PortInfo) {
	p.mu.Lock()
	p.ports = ports
	p.mu.Unlock()
}

// TestDriverUSBReplug: a bus named by its adapter's USB ids follows the
// adapter from one tty to another: the port is resolved again at every
// reconnect, and while no adapter matches the devices stay offline with an
// error that says so.
func TestDriverUSBReplug(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	old := enumerator
	t.Cleanup(func() { enumerator = old })
	usb := &plugged{}
	enumerator = usb
	adapter := func(path string) serialport.PortInfo {
		return serialport.PortInfo{Name: path, USB: true, VID: "1a86", PID: "7523", SerialNumber: "BUS1"}
	}
	first, second := ptytest.New(t), ptytest.New(t)
	b1, b2 := newBank(), newBank()
	b1.Holding[0], b2.Holding[0] = 111, 222
	serveOn(t, first, modbustest.New(map[byte]*modbustest.Bank{1: b1}))
	serveOn(t, second, modbustest.New(map[byte]*modbustest.Bank{1: b2}))
	usb.set(adapter(first.Path()), serialport.PortInfo{Name: "/dev/ttyS0"})

	d, err := New(edge.Env{Name: "rs485"}, opts(`
usb_vid: "1A86"
usb_pid: "7523"
usb_serial: BUS1
baud: 115200
timeout: 100ms
groups: [{name: g, interval: 20ms}]
devices: [{id: meter, slave: 1, points: [{name: v, table: holding, address: 0}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if d.line.Port != "usb:1a86:7523:BUS1" {
		t.Fatalf("port %q", d.line.Port)
	}
	d.backoffMin, d.backoffMax = 10*time.Millisecond, 20*time.Millisecond
	sink := runDriver(t, d)
	i := sink.WaitFor(t, 0, 5*time.Second, "value from the first tty", func(e edge.Event) bool { return e.Point == "v" && e.Value == 111 })

	usb.set() // unplugged: nothing matches
	first.Unplug()
	i = sink.WaitFor(t, i, 5*time.Second, "offline", isStatus("meter", false))
	waitUntil(t, 5*time.Second, "the no-match error", func() bool {
		return strings.Contains(d.Stats()[0].LastError, "no USB serial adapter matches")
	})
	usb.set(adapter(second.Path())) // plugged back, on another tty
	sink.WaitFor(t, i, 5*time.Second, "value from the second tty", func(e edge.Event) bool { return e.Point == "v" && e.Value == 222 })
}
