package modbus

import "fmt"

// Assembler collects the response to one request from the bytes as they
// arrive, in whatever pieces the serial port hands them over, and checks its
// head as soon as it arrives: the first byte must be the slave's address,
// the second the request's function (or its exception form), the third, for
// a read, exactly the byte count the request's quantity makes. A head that
// does not fit is reported at once, so the master stops reading it and
// waits out the line instead. The frame ends at the length ExpectLen gives;
// its CRC and echo are checked by CheckADU.
//
// Leading 0x00 and 0xFF bytes are skipped and counted: an RS-485
// transceiver switching direction often leaves one, and neither can begin
// an answer (0 is the broadcast address, which no slave answers from; 248
// and above are not slave addresses). Any other first byte is another
// slave's or nobody's frame.
type Assembler struct {
	slave byte
	req   PDU
	want  int // the normal answer's length
	buf   []byte
	// Skipped counts leading 0x00/0xFF bytes dropped.
	Skipped int
}

// Reset prepares a for the answer to req sent to slave. A request ExpectLen
// refuses makes every Feed fail.
func (a *Assembler) Reset(slave byte, req PDU) {
	a.slave, a.req, a.buf, a.Skipped = slave, req, a.buf[:0], 0
	a.want, _ = ExpectLen(req)
}

// Len is the number of bytes held (skipped ones aside).
func (a *Assembler) Len() int { return len(a.buf) }

// Bytes are the bytes held; they alias the assembler's buffer.
func (a *Assembler) Bytes() []byte { return a.buf }

// Feed adds p. It returns the whole ADU (CRC not yet checked) once it has
// arrived, with the number of bytes past its end; or an error wrapping
// ErrBadResponse as soon as the bytes held cannot be the answer. The ADU
// aliases the assembler's buffer until the next Feed or Reset.
func (a *Assembler) Feed(p []byte) (adu []byte, extra int, err error) {
	if len(a.buf) == 0 {
		for len(p) > 0 && (p[0] == 0x00 || p[0] == 0xFF) {
			p = p[1:]
			a.Skipped++
		}
	}
	a.buf = append(a.buf, p...)
	if a.want == 0 {
		return nil, 0, fmt.Errorf("%w: unsupported function %d", ErrBadResponse, a.req.Function)
	}
	b := a.buf
	if len(b) == 0 {
		return nil, 0, nil
	}
	if b[0] != a.slave {
		return nil, 0, fmt.Errorf("%w: answer starts with slave %d, not %d", ErrBadResponse, b[0], a.slave)
	}
	if len(b) < 2 {
		return nil, 0, nil
	}
	n := a.want
	switch fn := b[1]; {
	case fn == a.req.Function|0x80:
		n = 5 // slave, function|0x80, code, CRC
	case fn != a.req.Function:
		return nil, 0, fmt.Errorf("%w: function %d in answer to %d", ErrBadResponse, fn, a.req.Function)
	case a.req.Function <= FuncReadInputRegisters && len(b) >= 3 && int(b[2]) != n-5:
		return nil, 0, fmt.Errorf("%w: byte count %d in answer to a read of %d bytes", ErrBadResponse, b[2], n-5)
	}
	if len(b) < n {
		return nil, 0, nil
	}
	return b[:n], len(b) - n, nil
}
