package modbus

import (
	"fmt"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

// One serial port is one bus: an input driver and the relay-board outputs
// on the same RS-485 line must share its master, because the port can be
// opened only once and only one frame may be on the line at a time.
var (
	busMu sync.Mutex
	buses = map[string]*busRef{}
)

type busRef struct {
	m    *Master
	refs int
}

// acquireMaster returns the master of line.Port, making it on first use
// with clock (nil: the system clock). The line settings must agree with
// those of the other users.
func acquireMaster(line Line, clock edge.Clock) (*Master, func(), error) {
	line.setDefaults()
	busMu.Lock()
	defer busMu.Unlock()
	if b, ok := buses[line.Port]; ok {
		if b.m.line != line {
			return nil, nil, fmt.Errorf("port %q is already in use with %d baud %d%s%d; every input and output on one port must use the same settings",
				line.Port, b.m.line.Baud, b.m.line.DataBits, b.m.line.Parity[:1], b.m.line.StopBits)
		}
		b.refs++
		return b.m, releaser(line.Port, b), nil
	}
	m, err := NewMaster(line)
	if err != nil {
		return nil, nil, err
	}
	m.SetClock(clock)
	b := &busRef{m: m, refs: 1}
	buses[line.Port] = b
	return m, releaser(line.Port, b), nil
}

func releaser(port string, b *busRef) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			busMu.Lock()
			defer busMu.Unlock()
			b.refs--
			if b.refs == 0 {
				b.m.Close()
				if buses[port] == b {
					delete(buses, port)
				}
			}
		})
	}
}
