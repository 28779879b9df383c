package modbus

import (
	"fmt"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

// One serial port is one bus: an input driver and the relay-board outputs
// on the same RS-485 line must share its master, because the port can be
// opened only once and only one frame may be on the line at a time. A
// device server (rtu_over_tcp) is the same RS-485 line behind a socket,
// and a Modbus TCP server often takes only a few connections: each is
// shared the same way, keyed by its address.
var (
	busMu sync.Mutex
	buses = map[string]*busRef{}
)

type busRef struct {
	m    Client
	refs int
}

// acquireMaster returns the client of line (its port or address), making
// it on first use with clock (nil: the system clock). The line settings
// must agree with those of the other users.
func acquireMaster(line Line, clock edge.Clock) (Client, func(), error) {
	line.setDefaults()
	key := line.Name()
	busMu.Lock()
	defer busMu.Unlock()
	if b, ok := buses[key]; ok {
		if l := b.m.Line(); l != line {
			if line.Transport == TransportTCP {
				return nil, nil, fmt.Errorf("%s is already in use with connect_timeout %v; every input and output on one connection must use the same settings", key, l.ConnectTimeout)
			}
			return nil, nil, fmt.Errorf("port %q is already in use with %d baud %d%s%d; every input and output on one port must use the same settings",
				key, l.Baud, l.DataBits, l.Parity[:1], l.StopBits)
		}
		b.refs++
		return b.m, releaser(key, b), nil
	}
	m, err := NewClient(line)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := m.(interface{ SetClock(edge.Clock) }); ok {
		c.SetClock(clock)
	}
	b := &busRef{m: m, refs: 1}
	buses[key] = b
	return m, releaser(key, b), nil
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
