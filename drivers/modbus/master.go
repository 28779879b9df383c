package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
)

// Port is the part of a go.bug.st/serial port the master uses.
type Port interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadTimeout(d time.Duration) error
	ResetInputBuffer() error
	Close() error
}

// Line is a serial line's settings, or a TCP connection's.
type Line struct {
	// Transport is serial (""), rtu_over_tcp or tcp.
	Transport Transport
	Port      string // device path: /dev/ttyUSB0, COM3, usb:VID:PID[:SERIAL]
	// Address is host:port for the TCP transports.
	Address string
	// ConnectTimeout bounds a TCP connect. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Baud, DataBits, Parity and StopBits are the serial line's; over a
	// device server (rtu_over_tcp) its serial side's, which time the
	// frames and the silence between them.
	Baud     int    // default 9600
	DataBits int    // 7 or 8; default 8
	Parity   string // none, even or odd; default even (the Modbus default)
	StopBits int    // 1 or 2; default 1
	// Echo: the adapter hears its own transmission (an RS-485 transceiver
	// with its receiver always enabled), so every request comes back before
	// the answer. The echo must match the request byte for byte (anything
	// else is a collision on the bus: the answer is discarded) and is
	// skipped.
	Echo bool
}

func (l *Line) setDefaults() {
	if l.Baud == 0 {
		l.Baud = 9600
	}
	if l.DataBits == 0 {
		l.DataBits = 8
	}
	if l.Parity == "" {
		l.Parity = "even"
	}
	if l.StopBits == 0 {
		l.StopBits = 1
	}
	if l.Transport != TransportSerial && l.ConnectTimeout <= 0 {
		l.ConnectTimeout = DefaultConnectTimeout
	}
}

// CharBits is the number of bits one character takes on the wire: a start
// bit, the data bits, the parity bit if any, the stop bits. Modbus RTU's
// 8E1 and 8N2 both make 11.
func (l Line) CharBits() int {
	n := 1 + l.DataBits + l.StopBits
	if l.Parity != "none" {
		n++
	}
	return n
}

// CharTime is the time one character takes at the line's baud rate.
func (l Line) CharTime() time.Duration {
	return time.Duration(l.CharBits()) * time.Second / time.Duration(l.Baud)
}

// Silence is the inter-frame gap t3.5 the spec requires: 3.5 character
// times, and a fixed 1750µs above 19200 baud (Modbus over serial line
// v1.02, 2.5.1.1).
func (l Line) Silence() time.Duration {
	if l.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return 7 * l.CharTime() / 2
}

func (l Line) mode() (*serial.Mode, error) {
	m := &serial.Mode{BaudRate: l.Baud, DataBits: l.DataBits}
	switch l.Parity {
	case "none":
		m.Parity = serial.NoParity
	case "even":
		m.Parity = serial.EvenParity
	case "odd":
		m.Parity = serial.OddParity
	default:
		return nil, edge.Msgf("parity %q: want none, even or odd", l.Parity)
	}
	switch l.StopBits {
	case 1:
		m.StopBits = serial.OneStopBit
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, edge.Msgf("stop_bits %d: want 1 or 2", l.StopBits)
	}
	if l.DataBits != 7 && l.DataBits != 8 {
		return nil, edge.Msgf("data_bits %d: want 7 or 8", l.DataBits)
	}
	if l.Baud < 300 || l.Baud > 4000000 {
		return nil, edge.Msgf("baud %d out of range 300..4000000", l.Baud)
	}
	return m, nil
}

// DefaultTimeout is the slave turnaround allowed when none is configured:
// the Modbus serial line guide (v1.02, 2.4.1) puts the response timeout "in
// the range of 1s to several seconds at 9600 bps", and slower sensors,
// meters writing their EEPROM and USB adapters' latency all take hundreds
// of milliseconds.
const DefaultTimeout = time.Second

// Tx bounds one transaction.
type Tx struct {
	// Timeout is how long a slave may take to answer, counted from the end
	// of the request on the wire to the end of the response (whose own
	// transmission time is added). It is also the slave's worst turnaround
	// as far as the master knows: after a failed attempt the line must stay
	// silent for Timeout + t3.5 before anything is sent (see Master).
	// Default DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times a request that timed out or came back
	// damaged or mismatched is sent again. Exceptions are not retried,
	// except busy ones (BusyRetries).
	Retries int
	// Gap is the silence kept on the line before the request, counted from
	// the end of the last frame on the bus; never less than t3.5. Some
	// slaves on a multi-drop bus need 20 to 100ms. Default: t3.5.
	Gap time.Duration
	// BusyRetries is how many times a request answered with exception 6,
	// SLAVE DEVICE BUSY, is sent again, each time after BusyDelay of
	// silence. Default 0: the exception is returned.
	BusyRetries int
	BusyDelay   time.Duration
}

func (tx Tx) withDefaults() Tx {
	if tx.Timeout <= 0 {
		tx.Timeout = DefaultTimeout
	}
	return tx
}

// quiet is the silence that ends a failed attempt: longer than the slave's
// worst turnaround (its timeout) by one inter-frame gap.
func (tx Tx) quiet(l Line) time.Duration { return tx.Timeout + l.Silence() }

// TxStats says what happened on the line during one Do.
type TxStats struct {
	Attempts    int
	Timeouts    int // attempts without a byte of answer, then or later
	Late        int // attempts answered only after the timeout: the answer was discarded
	ShortFrames int // answers that stopped before their length
	CRCErrors   int
	Mismatched  int // answers that did not answer the request (ErrBadResponse)
	Noise       int // the line never fell silent (ErrNoise)
	// Exceptions are the exception codes answered, in order, busy ones
	// that were retried included.
	Exceptions []byte
	Garbage    int // bytes read and discarded: late answers, noise, mismatched frames
	// LastErr is the error of the last failed attempt, also when a retry
	// then succeeded: the odd failure stays visible.
	LastErr error
}

// Master is a Modbus RTU master on one serial line. Several slaves share
// the line; Do serialises access to it and keeps the transaction
// discipline that makes an answer belong to its request:
//
//   - Before a request the line has been silent for the gap (at least t3.5)
//     since the last frame; a byte heard then is not ours, and is waited out.
//   - An answer is checked as it arrives (slave id, function, byte count),
//     then whole (CRC, write echo), and must be followed by t3.5 of silence;
//     a frame right on its heels makes it ambiguous, so it is discarded.
//   - After a timeout or any damaged or mismatched answer, the master does
//     not send again until the line has been silent for the slave's timeout
//     plus t3.5, reading and discarding whatever comes (the late answer),
//     and then flushes the input buffer. A flush alone would race a late
//     answer still on its way.
//
// A vanished port is closed; the next Do reopens it, and waits out the
// line once before its first request.
type Master struct {
	line  Line
	mode  *serial.Mode
	open  func(ctx context.Context) (Port, error)
	clock edge.Clock

	sem  chan struct{} // the bus: held for one transaction
	mu   sync.Mutex    // guards port for Close from another goroutine
	port Port

	last  time.Time     // end of the last frame on the bus, or the last byte heard
	dirty bool          // bytes that are not an answer to the next request may come
	quiet time.Duration // silence that clears dirty; 0: the next request's
	opens int           // successful opens
	asm   Assembler
	rbuf  [MaxADU + 8]byte
	wbuf  []byte
}

// NewMaster makes an RTU master for line (a serial port, or a device
// server's socket for rtu_over_tcp); the port is opened on first use. A
// port named usb:VID:PID[:SERIAL] is looked up again at every open.
func NewMaster(line Line) (*Master, error) {
	line.setDefaults()
	mode, err := line.mode()
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", line.Name(), err)
	}
	m := &Master{line: line, mode: mode, sem: make(chan struct{}, 1), clock: edge.SystemClock{}}
	switch line.Transport {
	case TransportSerial:
		m.open = func(context.Context) (Port, error) {
			path, err := serialport.ResolvePortWith(enumerator, line.Port)
			if err != nil {
				return nil, err
			}
			return serialport.Open(path, mode)
		}
	case TransportRTUOverTCP:
		m.open = func(ctx context.Context) (Port, error) { return dial(ctx, line) }
	default:
		return nil, fmt.Errorf("%s: an RTU master speaks serial or rtu_over_tcp, not %q", line.Name(), line.Transport)
	}
	return m, nil
}

// enumerator finds usb:VID:PID ports; tests replace it.
var enumerator serialport.Enumerator = serialport.System{}

// NewMasterPort makes a master on an already open port (tests, tools).
// When the port fails it is not reopened.
func NewMasterPort(line Line, p Port) *Master {
	line.setDefaults()
	m := &Master{line: line, sem: make(chan struct{}, 1), port: p, dirty: true, clock: edge.SystemClock{}}
	m.open = func(context.Context) (Port, error) { return nil, errors.New("port closed and cannot be reopened") }
	return m
}

// SetClock sets the clock the master measures its deadlines and silences
// with (default edge.SystemClock). The port's read timeouts stay real
// durations handed to the OS, so the clock must move with real time.
func (m *Master) SetClock(c edge.Clock) {
	if c != nil {
		m.clock = c
	}
}

func (m *Master) now() time.Time { return m.clock.Now() }

// Line returns the line settings, defaults filled in.
func (m *Master) Line() Line { return m.line }

// Opens counts how many times the port was opened.
func (m *Master) Opens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opens
}

// Connected reports whether the port is open now.
func (m *Master) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.port != nil
}

// Connect opens the port if it is not open.
func (m *Master) Connect(ctx context.Context) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	return m.ensureOpen(ctx)
}

// Close closes the port; a later Do reopens it.
func (m *Master) Close() error {
	m.mu.Lock()
	p := m.port
	m.port = nil
	m.mu.Unlock()
	if p != nil {
		return p.Close()
	}
	return nil
}

func (m *Master) acquire(ctx context.Context) error {
	select {
	case m.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Master) release() { <-m.sem }

func (m *Master) ensureOpen(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.port != nil {
		return nil
	}
	p, err := m.open(ctx)
	if err != nil {
		return portErr("open "+m.line.Name(), err)
	}
	// A slave may still be answering whoever had the port before: wait the
	// line out before the first request.
	m.port, m.opens, m.dirty, m.quiet = p, m.opens+1, true, 0
	return nil
}

// portFailed drops a port that returned an I/O error: an unplugged USB
// adapter gives EIO or "port has been closed" from then on.
func (m *Master) portFailed(err error) error {
	m.Close()
	return portErr(m.line.Name(), err)
}

// portErr wraps err in ErrPort unless it already is one.
func portErr(what string, err error) error {
	if errors.Is(err, ErrPort) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrPort, what, err)
}

// Do sends req to slave and returns the slave's response PDU, checked
// against the request (an exception is an *ExceptionError). It retries
// timeouts, damaged and mismatched answers tx.Retries times, and busy
// exceptions tx.BusyRetries times.
func (m *Master) Do(ctx context.Context, slave byte, req PDU, tx Tx) (PDU, TxStats, error) {
	tx = tx.withDefaults()
	if _, err := ExpectLen(req); err != nil {
		return PDU{}, TxStats{}, err
	}
	if err := m.acquire(ctx); err != nil {
		return PDU{}, TxStats{}, err
	}
	defer m.release()
	if err := m.ensureOpen(ctx); err != nil {
		return PDU{}, TxStats{}, err
	}
	return retry(ctx, tx, max(tx.Gap, m.line.Silence()), func(gap time.Duration, st *TxStats) (PDU, error) {
		m.mu.Lock()
		p := m.port
		m.mu.Unlock()
		if p == nil {
			return PDU{}, fmt.Errorf("%w: %s: closed", ErrPort, m.line.Name())
		}
		return m.once(ctx, p, slave, req, tx, gap, st)
	})
}

// retry runs attempt until it gets an answer, counting each failure in the
// stats: timeouts, damaged and mismatched answers tx.Retries times, busy
// exceptions tx.BusyRetries times (after tx.BusyDelay), nothing else.
// gap is the silence kept before each request.
func retry(ctx context.Context, tx Tx, gap time.Duration, attempt func(gap time.Duration, st *TxStats) (PDU, error)) (PDU, TxStats, error) {
	var st TxStats
	base := gap
	busy := 0
	var err error
	for tries := 0; tries <= tx.Retries; {
		if ctx.Err() != nil {
			return PDU{}, st, ctx.Err()
		}
		st.Attempts++
		var resp PDU
		resp, err = attempt(gap, &st)
		gap = base
		if err != nil {
			st.LastErr = err
		}
		var ex *ExceptionError
		switch {
		case err == nil:
			return resp, st, nil
		case errors.As(err, &ex):
			st.Exceptions = append(st.Exceptions, ex.Code)
			if ex.Code == ExSlaveDeviceBusy && busy < tx.BusyRetries {
				busy++
				gap = max(gap, tx.BusyDelay)
				continue
			}
			return PDU{}, st, err
		case errors.Is(err, ErrLate):
			st.Late++
		case errors.Is(err, ErrTimeout):
			st.Timeouts++
		case errors.Is(err, ErrShortFrame):
			st.ShortFrames++
		case errors.Is(err, ErrCRC):
			st.CRCErrors++
		case errors.Is(err, ErrBadResponse):
			st.Mismatched++
		case errors.Is(err, ErrNoise):
			st.Noise++
			return PDU{}, st, err
		default: // port gone, ctx
			return PDU{}, st, err
		}
		tries++
	}
	return PDU{}, st, err
}

// once is one request and its answer, with the bus held. It returns with
// the line quiet: after a failure it has waited out the slave's late
// answer. Only when it cannot (ctx ended, port gone, noise) is the line
// left dirty for the next transaction to wait out first.
func (m *Master) once(ctx context.Context, p Port, slave byte, req PDU, tx Tx, gap time.Duration, st *TxStats) (PDU, error) {
	if err := m.settle(ctx, p, tx, gap, st); err != nil {
		return PDU{}, err
	}
	m.wbuf = AppendADU(m.wbuf[:0], slave, req)
	for w := m.wbuf; len(w) > 0; {
		n, err := p.Write(w)
		if err != nil {
			return PDU{}, m.portFailed(err)
		}
		w = w[n:]
	}
	resp, answered, failure := m.receive(ctx, p, slave, req, tx, st)
	if answered {
		return resp, failure // nil, or an exception: a valid answer either way
	}
	if ctx.Err() != nil || errors.Is(failure, ErrPort) || errors.Is(failure, ErrNoise) {
		m.dirty, m.quiet = true, max(m.quiet, tx.quiet(m.line))
		return PDU{}, failure
	}
	// Let the late answer arrive and discard it: nothing is sent until the
	// line has been silent longer than the slave's worst turnaround.
	n, err := m.quiesce(ctx, p, m.now(), tx.quiet(m.line), noiseLimit(tx.quiet(m.line)))
	st.Garbage += n
	if err != nil {
		m.dirty, m.quiet = true, max(m.quiet, tx.quiet(m.line))
		return PDU{}, err
	}
	if err := p.ResetInputBuffer(); err != nil {
		return PDU{}, m.portFailed(err)
	}
	if n > 0 && errors.Is(failure, ErrTimeout) {
		return PDU{}, fmt.Errorf("%w: slave %d answered after its timeout of %v; the %d bytes were discarded (raise timeout if this repeats)", ErrLate, slave, tx.Timeout, n)
	}
	return PDU{}, failure
}

// receive reads the answer to the request just sent (m.wbuf). answered
// reports a whole answer that passed every check and was followed by
// silence: resp, or an *ExceptionError in err. Otherwise err says what went
// wrong, and the line may still carry the rest.
func (m *Master) receive(ctx context.Context, p Port, slave byte, req PDU, tx Tx, st *TxStats) (resp PDU, answered bool, err error) {
	sent := m.now()
	ct := m.line.CharTime()
	expect, _ := ExpectLen(req) // Do checked it
	// The request and the response take their time on a real line; the
	// timeout is what the slave may add to that.
	m.last = sent.Add(time.Duration(len(m.wbuf)) * ct)
	deadline := sent.Add(time.Duration(len(m.wbuf)+expect)*ct + m.line.Silence() + tx.Timeout)
	m.asm.Reset(slave, req)
	echo := 0 // bytes of our own request still to hear
	if m.line.Echo {
		echo = len(m.wbuf)
	}
	var heard []byte // the first bytes heard, to explain a mismatch
	for {
		n, err := m.readSome(ctx, p, deadline)
		if err != nil {
			return PDU{}, false, err
		}
		if n == 0 { // deadline
			switch {
			case m.asm.Len() > 0:
				return PDU{}, false, fmt.Errorf("%w: slave %d: answer cut short after %d of %d bytes", ErrShortFrame, slave, m.asm.Len(), expect)
			case m.line.Echo && echo == len(m.wbuf):
				return PDU{}, false, fmt.Errorf("%w: slave %d did not answer within %v, and the request's echo did not come back either (is echo right for this adapter?)", ErrTimeout, slave, tx.Timeout)
			}
			return PDU{}, false, fmt.Errorf("%w: slave %d did not answer within %v", ErrTimeout, slave, tx.Timeout)
		}
		got := m.rbuf[:n]
		if len(heard) < len(m.wbuf) {
			heard = append(heard, got[:min(len(got), len(m.wbuf)-len(heard))]...)
		}
		if echo > 0 {
			k := min(echo, len(got))
			if string(got[:k]) != string(m.wbuf[len(m.wbuf)-echo:][:k]) {
				st.Garbage += len(got)
				return PDU{}, false, fmt.Errorf("%w: slave %d: the echo of the request came back altered (a collision on the bus?)", ErrBadResponse, slave)
			}
			echo -= k
			if got = got[k:]; len(got) == 0 {
				continue
			}
		}
		skipped := m.asm.Skipped
		adu, extra, err := m.asm.Feed(got)
		st.Garbage += m.asm.Skipped - skipped
		if err != nil {
			st.Garbage += m.asm.Len()
			if !m.line.Echo && len(heard) >= 4 && string(heard) == string(m.wbuf[:len(heard)]) {
				return PDU{}, false, fmt.Errorf("slave %d: %w (it is our own request: the adapter echoes, set echo: true)", slave, err)
			}
			return PDU{}, false, fmt.Errorf("slave %d: %w", slave, err)
		}
		if adu == nil {
			continue
		}
		// The answer is whole. By the spec a frame ends with t3.5 of
		// silence: bytes within it are a second frame on its heels (a late
		// answer and ours, in some order), and then neither can be
		// trusted. A byte or two is a transceiver's glitch.
		trailing, err := m.quiesce(ctx, p, m.last, m.line.Silence(), noiseLimit(m.line.Silence()))
		if err != nil {
			return PDU{}, false, err
		}
		trailing += extra
		st.Garbage += trailing
		if trailing >= 5 { // the shortest answer, an exception, is 5 bytes
			st.Garbage += len(adu)
			return PDU{}, false, fmt.Errorf("%w: slave %d: %d more bytes right after the answer", ErrBadResponse, slave, trailing)
		}
		resp, err := CheckADU(slave, req, adu)
		var ex *ExceptionError
		if err != nil && !errors.As(err, &ex) {
			st.Garbage += len(adu)
			return PDU{}, false, fmt.Errorf("slave %d: %w", slave, err)
		}
		resp.Data = append([]byte(nil), resp.Data...)
		return resp, true, err
	}
}

// ReadRegisters reads qty holding (function 3) or input (4) registers.
func (m *Master) ReadRegisters(ctx context.Context, slave byte, fn byte, addr, qty uint16, tx Tx) ([]uint16, error) {
	return readRegisters(ctx, m, slave, fn, addr, qty, tx)
}

// ReadBits reads qty coils (function 1) or discrete inputs (function 2).
func (m *Master) ReadBits(ctx context.Context, slave byte, fn byte, addr, qty uint16, tx Tx) ([]bool, error) {
	return readBits(ctx, m, slave, fn, addr, qty, tx)
}

// Write sends one write request (functions 5, 6, 15, 16).
func (m *Master) Write(ctx context.Context, slave byte, req PDU, tx Tx) error {
	_, _, err := m.Do(ctx, slave, req, tx)
	return err
}

func readRegisters(ctx context.Context, c Client, slave byte, fn byte, addr, qty uint16, tx Tx) ([]uint16, error) {
	req, err := ReadRequest(fn, addr, qty)
	if err != nil {
		return nil, err
	}
	resp, _, err := c.Do(ctx, slave, req, tx)
	if err != nil {
		return nil, err
	}
	return Registers(resp), nil
}

func readBits(ctx context.Context, c Client, slave byte, fn byte, addr, qty uint16, tx Tx) ([]bool, error) {
	req, err := ReadRequest(fn, addr, qty)
	if err != nil {
		return nil, err
	}
	resp, _, err := c.Do(ctx, slave, req, tx)
	if err != nil {
		return nil, err
	}
	return Bits(resp, int(qty)), nil
}
