package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Transport is how a master reaches its slaves.
type Transport string

// Transports.
const (
	// TransportSerial is Modbus RTU on a serial port (RS-485, RS-232).
	TransportSerial Transport = ""
	// TransportRTUOverTCP is Modbus RTU frames, CRC and all, over a TCP
	// socket: a serial device server ("RS-485 to Ethernet") in transparent
	// mode. The RTU transaction discipline applies unchanged: the bytes
	// carry no transaction id, so a late answer is told apart only by the
	// silence after a failure.
	TransportRTUOverTCP Transport = "rtu_over_tcp"
	// TransportTCP is Modbus TCP: the MBAP header carries a transaction id
	// that every response must echo.
	TransportTCP Transport = "tcp"
)

// DefaultConnectTimeout bounds a TCP connect when none is configured.
const DefaultConnectTimeout = 5 * time.Second

// Errors of a connection, both wrap ErrPort (the driver reconnects with
// backoff and reports the devices offline meanwhile).
var (
	// ErrConnect: the TCP connection could not be made (refused, timed
	// out, no route, name not found).
	ErrConnect error = &portError{"modbus: cannot connect"}
	// ErrDisconnected: the peer closed or reset the connection.
	ErrDisconnected error = &portError{"modbus: connection lost"}
)

// portError is a kind of ErrPort with its own words.
type portError struct{ msg string }

func (e *portError) Error() string { return e.msg }
func (e *portError) Unwrap() error { return ErrPort }

// Client is one Modbus line or connection with its own transaction
// discipline: a serial bus or a device server's socket (*Master, RTU), or a
// Modbus TCP connection (*TCPMaster). Do holds the line for one
// transaction at a time.
type Client interface {
	// Do sends req to slave (the unit id on TCP) and returns the checked
	// response PDU; an exception is an *ExceptionError.
	Do(ctx context.Context, slave byte, req PDU, tx Tx) (PDU, TxStats, error)
	// Connect opens the port or connection if it is not open.
	Connect(ctx context.Context) error
	// Connected reports whether it is open now.
	Connected() bool
	// Close closes it; a later Do or Connect opens it again.
	Close() error
	// Opens counts successful opens.
	Opens() int
	// Line returns the settings, defaults filled in.
	Line() Line
}

// NewClient makes the client for line's transport; nothing is opened.
func NewClient(line Line) (Client, error) {
	if line.Transport == TransportTCP {
		return NewTCPMaster(line)
	}
	return NewMaster(line)
}

// Name is how the line is named in messages and shared between an input
// and outputs: the serial port, or the transport and address.
func (l Line) Name() string {
	switch l.Transport {
	case TransportTCP:
		return "tcp " + l.Address
	case TransportRTUOverTCP:
		return "rtu-over-tcp " + l.Address
	}
	return l.Port
}

// dial connects to l.Address within l.ConnectTimeout (or ctx).
func dial(ctx context.Context, l Line) (Port, error) {
	d := net.Dialer{Timeout: l.ConnectTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", l.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // a request is one small write; send it now
	}
	return &connPort{c: c, addr: l.Address, writeTimeout: l.ConnectTimeout}, nil
}

// realNow is the wall clock a socket's deadlines are set on: like a
// serial port's read timeout, a deadline is handed to the OS and runs in
// real time whatever clock the master measures its silences with.
func realNow() time.Time { return edge.SystemClock{}.Now() }

// connPort makes a TCP connection look like a serial port to the master:
// a read that times out returns 0 bytes and no error, as go.bug.st/serial
// does.
type connPort struct {
	c            net.Conn
	addr         string
	wait         time.Duration
	writeTimeout time.Duration
}

func (p *connPort) SetReadTimeout(d time.Duration) error {
	p.wait = d
	return nil
}

func (p *connPort) Read(b []byte) (int, error) {
	// A deadline already passed would fail the read before it looks at
	// the bytes already received: poll for at least a millisecond.
	if err := p.c.SetReadDeadline(realNow().Add(max(p.wait, time.Millisecond))); err != nil {
		return 0, p.failed(err)
	}
	n, err := p.c.Read(b)
	if n > 0 {
		return n, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err == nil {
		return 0, nil
	}
	return 0, p.failed(err)
}

func (p *connPort) Write(b []byte) (int, error) {
	if err := p.c.SetWriteDeadline(realNow().Add(max(p.writeTimeout, time.Second))); err != nil {
		return 0, p.failed(err)
	}
	n, err := p.c.Write(b)
	if err != nil {
		return n, p.failed(err)
	}
	return n, nil
}

// ResetInputBuffer does nothing: the master has read and discarded what
// arrived while it waited out the line, and a socket has no buffer to
// flush short of reading it.
func (p *connPort) ResetInputBuffer() error { return nil }

func (p *connPort) Close() error { return p.c.Close() }

func (p *connPort) failed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %s closed the connection: %w", ErrDisconnected, p.addr, err)
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, err)
}

// Causes of a port or connection failure, counted per device in
// ErrorsByCause while the devices are offline for it.
const (
	CausePort           = "port"            // the serial port failed or cannot be opened
	CauseConnect        = "connect"         // no TCP connection: no route, name not found, ...
	CauseConnectRefused = "connect_refused" // nothing listens at the address (wrong port, server down)
	CauseConnectTimeout = "connect_timeout" // no answer to the connect (host down, firewall)
	CauseDisconnected   = "disconnected"    // the peer closed or reset the connection
)

// PortCause names the cause of a port or connection error.
func PortCause(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrConnect) && errors.Is(err, syscall.ECONNREFUSED):
		return CauseConnectRefused
	case errors.Is(err, ErrConnect) && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)):
		return CauseConnectTimeout
	case errors.Is(err, ErrConnect):
		return CauseConnect
	case errors.Is(err, ErrDisconnected):
		return CauseDisconnected
	}
	return CausePort
}
