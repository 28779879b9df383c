package modbus

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Modbus TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b): each
// frame is an MBAP header and a PDU, no CRC:
//
//	transaction id(2) | protocol id(2) = 0 | length(2) | unit id(1) | PDU
//
// where length counts the unit id and the PDU. The server echoes the
// transaction id, so an answer names its request: one that arrives after
// its request timed out is recognised and dropped, where RTU has to wait
// the line out.

// MBAPHeaderLen is the MBAP header's length, unit id included.
const MBAPHeaderLen = 7

// MaxTCPFrame bounds a frame: the header and a PDU of at most 253 bytes.
const MaxTCPFrame = MBAPHeaderLen + 253

// MBAP is a frame's header.
type MBAP struct {
	Transaction uint16
	Protocol    uint16
	Length      uint16 // unit id + PDU
	Unit        byte
}

// AppendTCPFrame appends the Modbus TCP frame of p for unit with
// transaction id tid to dst.
func AppendTCPFrame(dst []byte, tid uint16, unit byte, p PDU) []byte {
	dst = binary.BigEndian.AppendUint16(dst, tid)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(2+len(p.Data)))
	dst = append(dst, unit, p.Function)
	return append(dst, p.Data...)
}

// SplitTCPFrame cuts the first frame off the stream b. It returns n = 0
// while b holds less than a whole frame, and an error wrapping
// ErrBadResponse when b cannot begin a frame (protocol id not 0, a length
// out of 2..254): the stream has lost its framing and the connection must
// be dropped. The PDU's data aliases b.
func SplitTCPFrame(b []byte) (h MBAP, p PDU, n int, err error) {
	if len(b) < MBAPHeaderLen {
		return MBAP{}, PDU{}, 0, nil
	}
	h = MBAP{Transaction: binary.BigEndian.Uint16(b), Protocol: binary.BigEndian.Uint16(b[2:]),
		Length: binary.BigEndian.Uint16(b[4:]), Unit: b[6]}
	if h.Protocol != 0 {
		return h, PDU{}, 0, fmt.Errorf("%w: MBAP protocol id %d, not 0 (Modbus)", ErrBadResponse, h.Protocol)
	}
	if h.Length < 2 || h.Length > 254 {
		return h, PDU{}, 0, fmt.Errorf("%w: MBAP length %d out of range 2..254", ErrBadResponse, h.Length)
	}
	n = 6 + int(h.Length)
	if len(b) < n {
		return h, PDU{}, 0, nil
	}
	return h, PDU{Function: b[7], Data: b[8:n]}, n, nil
}

// CheckTCPResponse checks a frame against the request it should answer:
// the transaction id, the unit id, then the PDU as CheckResponse does.
func CheckTCPResponse(tid uint16, unit byte, req PDU, h MBAP, resp PDU) error {
	if h.Transaction != tid {
		return fmt.Errorf("%w: transaction id %d in answer to %d", ErrBadResponse, h.Transaction, tid)
	}
	if h.Unit != unit {
		return fmt.Errorf("%w: answer from unit %d to a request for unit %d", ErrBadResponse, h.Unit, unit)
	}
	return CheckResponse(req, resp)
}

// TCPMaster is a Modbus TCP client on one connection. Do sends one request
// at a time, each with the next transaction id, and takes as its answer
// only a frame with that id, the unit id and the function (or its
// exception) it asked for and the byte count its quantity makes. Any other
// frame is discarded and counted, never decoded: an answer to a request
// that already timed out as late, anything else as mismatched. A stream
// that loses its framing is dropped and reconnected.
type TCPMaster struct {
	line  Line
	clock edge.Clock
	open  func(ctx context.Context) (Port, error)

	sem  chan struct{}
	mu   sync.Mutex // guards port and opens
	port Port

	opens int
	tid   uint16
	stale [8]uint16 // transaction ids that timed out on this connection
	nst   int
	last  time.Time // end of the last answer, for the inter-request gap
	buf   []byte    // bytes received and not yet taken: at most a frame and a read
	rbuf  [MaxTCPFrame]byte
	wbuf  []byte
}

// NewTCPMaster makes a Modbus TCP client for line.Address; it connects on
// first use.
func NewTCPMaster(line Line) (*TCPMaster, error) {
	line.setDefaults()
	if line.Address == "" {
		return nil, fmt.Errorf("modbus tcp: no address (host:port)")
	}
	m := &TCPMaster{line: line, clock: edge.SystemClock{}, sem: make(chan struct{}, 1)}
	m.open = func(ctx context.Context) (Port, error) { return dial(ctx, line) }
	return m, nil
}

// SetClock sets the clock deadlines and gaps are measured on (default
// edge.SystemClock); it must move with real time.
func (m *TCPMaster) SetClock(c edge.Clock) {
	if c != nil {
		m.clock = c
	}
}

// Line returns the settings.
func (m *TCPMaster) Line() Line { return m.line }

// Opens counts successful connects.
func (m *TCPMaster) Opens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opens
}

// Connected reports whether the connection is up.
func (m *TCPMaster) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.port != nil
}

// Connect connects if not connected.
func (m *TCPMaster) Connect(ctx context.Context) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.sem }()
	return m.ensureOpen(ctx)
}

// Close drops the connection; a later Do connects again.
func (m *TCPMaster) Close() error {
	m.mu.Lock()
	p := m.port
	m.port = nil
	m.mu.Unlock()
	if p != nil {
		return p.Close()
	}
	return nil
}

func (m *TCPMaster) ensureOpen(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.port != nil {
		return nil
	}
	p, err := m.open(ctx)
	if err != nil {
		return portErr("connect "+m.line.Name(), err)
	}
	m.port, m.opens, m.buf, m.nst = p, m.opens+1, m.buf[:0], 0
	return nil
}

func (m *TCPMaster) failed(err error) error {
	m.Close()
	return portErr(m.line.Name(), err)
}

// Do sends req to unit slave and returns its checked answer, retrying as
// Tx says.
func (m *TCPMaster) Do(ctx context.Context, slave byte, req PDU, tx Tx) (PDU, TxStats, error) {
	tx = tx.withDefaults()
	if _, err := ExpectLen(req); err != nil {
		return PDU{}, TxStats{}, err
	}
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return PDU{}, TxStats{}, ctx.Err()
	}
	defer func() { <-m.sem }()
	if err := m.ensureOpen(ctx); err != nil {
		return PDU{}, TxStats{}, err
	}
	return retry(ctx, tx, tx.Gap, func(gap time.Duration, st *TxStats) (PDU, error) {
		if err := m.ensureOpen(ctx); err != nil { // dropped after a framing error
			return PDU{}, err
		}
		return m.once(ctx, slave, req, tx, gap, st)
	})
}

func (m *TCPMaster) once(ctx context.Context, slave byte, req PDU, tx Tx, gap time.Duration, st *TxStats) (PDU, error) {
	m.mu.Lock()
	p := m.port
	m.mu.Unlock()
	if p == nil {
		return PDU{}, fmt.Errorf("%w: %s: closed", ErrPort, m.line.Name())
	}
	if gap > 0 && !m.last.IsZero() {
		if err := edge.Sleep(ctx, m.clock, m.last.Add(gap).Sub(m.clock.Now())); err != nil {
			return PDU{}, err
		}
	}
	m.tid++
	tid := m.tid
	m.wbuf = AppendTCPFrame(m.wbuf[:0], tid, slave, req)
	for w := m.wbuf; len(w) > 0; {
		n, err := p.Write(w)
		if err != nil {
			return PDU{}, m.failed(err)
		}
		w = w[n:]
	}
	deadline := m.clock.Now().Add(tx.Timeout)
	for {
		h, resp, err := m.next(ctx, p, deadline, st)
		if err != nil {
			return PDU{}, err
		}
		if resp.Function == 0 && h.Length == 0 { // deadline
			m.stale[m.nst%len(m.stale)] = tid
			m.nst++
			return PDU{}, fmt.Errorf("%w: unit %d did not answer within %v", ErrTimeout, slave, tx.Timeout)
		}
		frameLen := 6 + int(h.Length)
		if h.Transaction != tid {
			// Not ours: the answer to a request that timed out, or a
			// server's stray frame. Dropped; ours may still come.
			st.Garbage += frameLen
			if m.wasStale(h.Transaction) {
				st.Late++
				st.LastErr = fmt.Errorf("%w: unit %d answered transaction %d after its timeout of %v; discarded (raise timeout if this repeats)", ErrLate, h.Unit, h.Transaction, tx.Timeout)
			} else {
				st.Mismatched++
				st.LastErr = fmt.Errorf("%w: transaction id %d in answer to %d; discarded", ErrBadResponse, h.Transaction, tid)
			}
			continue
		}
		m.last = m.clock.Now()
		if err := CheckTCPResponse(tid, slave, req, h, resp); err != nil {
			if _, ok := err.(*ExceptionError); ok {
				return PDU{}, err
			}
			st.Garbage += frameLen
			return PDU{}, fmt.Errorf("unit %d: %w", slave, err)
		}
		resp.Data = append([]byte(nil), resp.Data...)
		return resp, nil
	}
}

func (m *TCPMaster) wasStale(tid uint16) bool {
	for i := range min(m.nst, len(m.stale)) {
		if m.stale[i] == tid {
			return true
		}
	}
	return false
}

// next returns the next whole frame received before deadline (a zero
// header and PDU at the deadline). The PDU aliases m.buf until the next
// call. A stream that lost its framing is dropped.
func (m *TCPMaster) next(ctx context.Context, p Port, deadline time.Time, st *TxStats) (MBAP, PDU, error) {
	for {
		h, resp, n, err := SplitTCPFrame(m.buf)
		if err != nil {
			st.Garbage += len(m.buf)
			m.buf = m.buf[:0]
			m.Close()
			return MBAP{}, PDU{}, fmt.Errorf("%s: %w; connection dropped", m.line.Name(), err)
		}
		if n > 0 {
			// Take the frame off the buffer; its PDU is copied by the
			// caller before the next call.
			frame := append([]byte(nil), m.buf[:n]...)
			m.buf = append(m.buf[:0], m.buf[n:]...)
			h, resp, _, _ = SplitTCPFrame(frame)
			return h, resp, nil
		}
		d := min(max(deadline.Sub(m.clock.Now()), 0), 100*time.Millisecond)
		if err := p.SetReadTimeout(d); err != nil {
			return MBAP{}, PDU{}, m.failed(err)
		}
		k, err := p.Read(m.rbuf[:])
		if err != nil {
			return MBAP{}, PDU{}, m.failed(err)
		}
		m.buf = append(m.buf, m.rbuf[:k]...)
		if k > 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return MBAP{}, PDU{}, err
		}
		if !m.clock.Now().Before(deadline) {
			return MBAP{}, PDU{}, nil
		}
	}
}

// ReadRegisters reads qty holding (function 3) or input (4) registers.
func (m *TCPMaster) ReadRegisters(ctx context.Context, unit byte, fn byte, addr, qty uint16, tx Tx) ([]uint16, error) {
	return readRegisters(ctx, m, unit, fn, addr, qty, tx)
}

// ReadBits reads qty coils (function 1) or discrete inputs (2).
func (m *TCPMaster) ReadBits(ctx context.Context, unit byte, fn byte, addr, qty uint16, tx Tx) ([]bool, error) {
	return readBits(ctx, m, unit, fn, addr, qty, tx)
}

// Write sends one write request (functions 5, 6, 15, 16).
func (m *TCPMaster) Write(ctx context.Context, unit byte, req PDU, tx Tx) error {
	_, _, err := m.Do(ctx, unit, req, tx)
	return err
}

var (
	_ Client = (*TCPMaster)(nil)
	_ Client = (*Master)(nil)
)
