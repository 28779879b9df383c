package modbus

// Assembler collects one response frame from the bytes as they arrive, in
// whatever pieces the serial port hands them over. Bytes before the frame
// that cannot start it (line noise, a late answer from another slave's
// address) are dropped and counted; the frame ends exactly at the length its
// function code and byte count say, so no silence has to be waited for.
type Assembler struct {
	Slave    byte
	Function byte // the request's function code
	buf      []byte
	// Skipped counts bytes dropped while looking for the start of the frame.
	Skipped int
}

// Reset prepares a for a new response.
func (a *Assembler) Reset(slave, fn byte) {
	a.Slave, a.Function, a.buf, a.Skipped = slave, fn, a.buf[:0], 0
}

// Len is the number of bytes held.
func (a *Assembler) Len() int { return len(a.buf) }

// Feed adds p. It returns the whole ADU (CRC not yet checked) once it has
// arrived; bytes past its end are dropped and returned as extra. The ADU
// aliases the assembler's buffer until the next Feed or Reset.
func (a *Assembler) Feed(p []byte) (adu []byte, extra int) {
	a.buf = append(a.buf, p...)
	for {
		// Resynchronise: the frame starts with our slave address and our
		// function code (or its exception form).
		for len(a.buf) > 0 && a.buf[0] != a.Slave {
			a.drop(1)
		}
		if len(a.buf) >= 2 && a.buf[1] != a.Function && a.buf[1] != a.Function|0x80 {
			a.drop(1)
			continue
		}
		n, err := ResponseLen(a.Function, a.buf)
		if err != nil { // cannot happen after the checks above, unless fn is unsupported
			a.drop(1)
			continue
		}
		if n == 0 || len(a.buf) < n {
			return nil, 0
		}
		return a.buf[:n], len(a.buf) - n
	}
}

func (a *Assembler) drop(k int) {
	a.Skipped += k
	a.buf = append(a.buf[:0], a.buf[k:]...)
}
