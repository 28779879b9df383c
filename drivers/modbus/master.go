package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"go.bug.st/serial"
)

// Port is the part of a go.bug.st/serial port the master uses.
type Port interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadTimeout(d time.Duration) error
	ResetInputBuffer() error
	Close() error
}

// Line is a serial line's settings.
type Line struct {
	Port     string // device path: /dev/ttyUSB0, COM3
	Baud     int    // default 9600
	DataBits int    // 7 or 8; default 8
	Parity   string // none, even or odd; default even (the Modbus default)
	StopBits int    // 1 or 2; default 1
	// Echo: the adapter hears its own transmission (an RS-485 transceiver
	// with its receiver always enabled), so every request comes back before
	// the answer and is skipped.
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
		return nil, fmt.Errorf("parity %q: want none, even or odd", l.Parity)
	}
	switch l.StopBits {
	case 1:
		m.StopBits = serial.OneStopBit
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("stop_bits %d: want 1 or 2", l.StopBits)
	}
	if l.DataBits != 7 && l.DataBits != 8 {
		return nil, fmt.Errorf("data_bits %d: want 7 or 8", l.DataBits)
	}
	if l.Baud < 300 || l.Baud > 4000000 {
		return nil, fmt.Errorf("baud %d out of range 300..4000000", l.Baud)
	}
	return m, nil
}

// Tx bounds one transaction.
type Tx struct {
	// Timeout is how long a slave may take to answer, counted from the end
	// of the request on the wire to the end of the response (whose own
	// transmission time is added). Default 500ms.
	Timeout time.Duration
	// Retries is how many times a request that timed out or came back
	// damaged is sent again. Exceptions are not retried.
	Retries int
}

// TxStats says what happened on the line during one Do.
type TxStats struct {
	Attempts  int
	Timeouts  int
	CRCErrors int
	Malformed int // frames with a good CRC that did not answer the request
	Garbage   int // bytes dropped around frames
}

// Master is a Modbus RTU master on one serial line. Several slaves share
// the line; Do serialises access to it, keeps the t3.5 silence between
// frames, and no more. A vanished port is closed; the next Do reopens it.
type Master struct {
	line Line
	mode *serial.Mode
	open func() (Port, error)

	sem  chan struct{} // the bus: held for one transaction
	mu   sync.Mutex    // guards port for Close from another goroutine
	port Port

	last   time.Time // end of the last frame on the bus
	dirty  bool      // stray bytes may be waiting in the input buffer
	opens  int       // successful opens
	asm    Assembler
	rbuf   [MaxADU + 8]byte
	wbuf   []byte
	closed bool
}

// NewMaster makes a master for line; the port is opened on first use.
func NewMaster(line Line) (*Master, error) {
	line.setDefaults()
	mode, err := line.mode()
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", line.Port, err)
	}
	m := &Master{line: line, mode: mode, sem: make(chan struct{}, 1)}
	m.open = func() (Port, error) { return serialport.Open(line.Port, mode) }
	return m, nil
}

// NewMasterPort makes a master on an already open port (tests, tools).
// When the port fails it is not reopened.
func NewMasterPort(line Line, p Port) *Master {
	line.setDefaults()
	m := &Master{line: line, sem: make(chan struct{}, 1), port: p}
	m.open = func() (Port, error) { return nil, errors.New("port closed and cannot be reopened") }
	return m
}

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
	return m.ensureOpen()
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

func (m *Master) ensureOpen() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.port != nil {
		return nil
	}
	p, err := m.open()
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrPort, m.line.Port, err)
	}
	m.port, m.opens, m.dirty = p, m.opens+1, true
	return nil
}

// portFailed drops a port that returned an I/O error: an unplugged USB
// adapter gives EIO or "port has been closed" from then on.
func (m *Master) portFailed(err error) error {
	m.Close()
	return fmt.Errorf("%w: %s: %w", ErrPort, m.line.Port, err)
}

// Do sends req to slave and returns the slave's response PDU, checked
// against the request (an exception is an *ExceptionError). It retries
// timeouts and damaged frames tx.Retries times.
func (m *Master) Do(ctx context.Context, slave byte, req PDU, tx Tx) (PDU, TxStats, error) {
	var st TxStats
	if tx.Timeout <= 0 {
		tx.Timeout = 500 * time.Millisecond
	}
	if err := m.acquire(ctx); err != nil {
		return PDU{}, st, err
	}
	defer m.release()
	if err := m.ensureOpen(); err != nil {
		return PDU{}, st, err
	}
	var err error
	for attempt := 0; attempt <= tx.Retries; attempt++ {
		if ctx.Err() != nil {
			return PDU{}, st, ctx.Err()
		}
		st.Attempts++
		var resp PDU
		resp, err = m.once(ctx, slave, req, tx.Timeout, &st)
		switch {
		case err == nil:
			return resp, st, nil
		case errors.Is(err, ErrTimeout):
			st.Timeouts++
		case errors.Is(err, ErrCRC):
			st.CRCErrors++
		case errors.Is(err, ErrBadResponse):
			st.Malformed++
		default: // exception, port gone, ctx
			return PDU{}, st, err
		}
	}
	return PDU{}, st, err
}

// once is one request and its response, with the bus held.
func (m *Master) once(ctx context.Context, slave byte, req PDU, timeout time.Duration, st *TxStats) (PDU, error) {
	m.mu.Lock()
	p := m.port
	m.mu.Unlock()
	if p == nil {
		return PDU{}, fmt.Errorf("%w: %s: closed", ErrPort, m.line.Port)
	}
	// Keep the inter-frame silence since the last frame on the bus, and
	// not a moment more.
	if wait := time.Until(m.last.Add(m.line.Silence())); wait > 0 {
		if err := sleepCtx(ctx, wait); err != nil {
			return PDU{}, err
		}
	}
	if m.dirty {
		// A late answer to a request that timed out would be taken for the
		// answer to this one.
		if err := p.ResetInputBuffer(); err != nil {
			return PDU{}, m.portFailed(err)
		}
		m.dirty = false
	}
	m.wbuf = AppendADU(m.wbuf[:0], slave, req)
	start := time.Now()
	for w := m.wbuf; len(w) > 0; {
		n, err := p.Write(w)
		if err != nil {
			return PDU{}, m.portFailed(err)
		}
		w = w[n:]
	}
	ct := m.line.CharTime()
	expect := 8 // the longest of a write echo and an exception
	if req.Function <= FuncReadInputRegisters && len(req.Data) >= 4 {
		qty := int(req.Data[2])<<8 | int(req.Data[3])
		if req.Function <= FuncReadDiscreteInputs {
			expect = 5 + (qty+7)/8
		} else {
			expect = 5 + 2*qty
		}
	}
	// The request and the response take their time on a real line; the
	// timeout is what the slave may add to that.
	deadline := start.Add(time.Duration(len(m.wbuf)+expect)*ct + m.line.Silence() + timeout)
	m.asm.Reset(slave, req.Function)
	echo := 0 // bytes of our own request still to skip
	if m.line.Echo {
		echo = len(m.wbuf)
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			m.last, m.dirty = time.Now(), true
			st.Garbage += m.asm.Skipped
			if m.asm.Len() > 0 {
				return PDU{}, fmt.Errorf("%w: slave %d: incomplete response (%d bytes)", ErrTimeout, slave, m.asm.Len())
			}
			return PDU{}, fmt.Errorf("%w: slave %d did not answer within %v", ErrTimeout, slave, timeout)
		}
		// Short reads keep a cancelled ctx from waiting out a long timeout;
		// at least 1ms, as Windows counts read timeouts in whole
		// milliseconds and 0 would spin.
		if err := p.SetReadTimeout(max(min(left, 100*time.Millisecond), time.Millisecond)); err != nil {
			return PDU{}, m.portFailed(err)
		}
		n, err := p.Read(m.rbuf[:])
		if err != nil {
			return PDU{}, m.portFailed(err)
		}
		if n == 0 { // go.bug.st/serial's read timeout
			if ctx.Err() != nil {
				return PDU{}, ctx.Err()
			}
			continue
		}
		got := m.rbuf[:n]
		if echo > 0 {
			k := min(echo, len(got))
			if string(got[:k]) != string(m.wbuf[len(m.wbuf)-echo:][:k]) {
				st.Garbage += k // not our echo: line noise, or echo is off
			}
			echo -= k
			got = got[k:]
			if len(got) == 0 {
				continue
			}
		}
		adu, extra := m.asm.Feed(got)
		if adu == nil {
			continue
		}
		m.last = time.Now()
		st.Garbage += m.asm.Skipped + extra
		if extra > 0 {
			m.dirty = true
		}
		_, resp, err := DecodeADU(adu)
		if err != nil {
			m.dirty = true
			return PDU{}, fmt.Errorf("slave %d: %w", slave, err)
		}
		resp.Data = append([]byte(nil), resp.Data...)
		if err := CheckResponse(req, resp); err != nil {
			return PDU{}, fmt.Errorf("slave %d: %w", slave, err)
		}
		return resp, nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadRegisters reads qty holding (table "holding") or input registers.
func (m *Master) ReadRegisters(ctx context.Context, slave byte, fn byte, addr, qty uint16, tx Tx) ([]uint16, error) {
	req, err := ReadRequest(fn, addr, qty)
	if err != nil {
		return nil, err
	}
	resp, _, err := m.Do(ctx, slave, req, tx)
	if err != nil {
		return nil, err
	}
	return Registers(resp), nil
}

// ReadBits reads qty coils (function 1) or discrete inputs (function 2).
func (m *Master) ReadBits(ctx context.Context, slave byte, fn byte, addr, qty uint16, tx Tx) ([]bool, error) {
	req, err := ReadRequest(fn, addr, qty)
	if err != nil {
		return nil, err
	}
	resp, _, err := m.Do(ctx, slave, req, tx)
	if err != nil {
		return nil, err
	}
	return Bits(resp, int(qty)), nil
}

// Write sends one write request (functions 5, 6, 15, 16).
func (m *Master) Write(ctx context.Context, slave byte, req PDU, tx Tx) error {
	_, _, err := m.Do(ctx, slave, req, tx)
	return err
}
