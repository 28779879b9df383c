package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// ProbeRequest is one read of `edgegw probe modbus`.
type ProbeRequest struct {
	Line      Line
	Slave     int
	Table     Table
	Address   int
	Count     int // registers (or bits) to read
	Type      DataType
	WordOrder WordOrder
	Timeout   time.Duration // default DefaultTimeout
	Retries   int
	Clock     edge.Clock // times the answer; default edge.SystemClock
}

// ParseReadSpec parses "table:address:count", such as "holding:0:4".
// Count defaults to 1.
func ParseReadSpec(s string) (Table, int, int, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", 0, 0, fmt.Errorf("read %q: want table:address[:count], such as holding:0:4", s)
	}
	t, err := ParseTable(parts[0])
	if err != nil {
		return "", 0, 0, fmt.Errorf("read %q: %w", s, err)
	}
	addr, err := strconv.Atoi(parts[1])
	if err != nil || addr < 0 || addr > 0xFFFF {
		return "", 0, 0, fmt.Errorf("read %q: address %q is not a number 0..65535", s, parts[1])
	}
	n := 1
	if len(parts) == 3 {
		if n, err = strconv.Atoi(parts[2]); err != nil || n < 1 {
			return "", 0, 0, fmt.Errorf("read %q: count %q is not a positive number", s, parts[2])
		}
	}
	return t, addr, n, nil
}

// Validate checks the request and fills its default type.
func (r *ProbeRequest) Validate() error {
	if r.Slave < 1 || r.Slave > 247 {
		return fmt.Errorf("slave %d out of range 1..247", r.Slave)
	}
	if r.Type == "" {
		r.Type = TypeUint16
		if r.Table.IsBits() {
			r.Type = TypeBool
		}
	}
	if r.Table.IsBits() && r.Type != TypeBool {
		return fmt.Errorf("a %s is a single bit; --type does not apply", r.Table)
	}
	if !r.Table.IsBits() && r.Type == TypeBool {
		return fmt.Errorf("type bool applies to coils and discrete inputs")
	}
	limit := MaxReadRegisters
	if r.Table.IsBits() {
		limit = MaxReadBits
	}
	if r.Count < 1 || r.Count > limit || r.Address+r.Count > 0x10000 {
		return fmt.Errorf("count %d at address %d out of range (1..%d, not past 65535)", r.Count, r.Address, limit)
	}
	if w := r.Type.Words(); r.Count%w != 0 {
		return fmt.Errorf("%s takes %d registers: count %d is not a multiple of %d", r.Type, w, r.Count, w)
	}
	return nil
}

// Probe opens the port, reads once and prints the decoded values to w.
func Probe(ctx context.Context, r ProbeRequest, w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m, err := NewMaster(r.Line)
	if err != nil {
		return err
	}
	defer m.Close()
	m.SetClock(r.Clock)
	return ProbeWith(ctx, m, r, w)
}

// ProbeWith is Probe on a master already made.
func ProbeWith(ctx context.Context, m *Master, r ProbeRequest, w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	tx := Tx{Timeout: r.Timeout, Retries: r.Retries}
	fn := r.Table.ReadFunction()
	l := m.Line()
	fmt.Fprintf(w, "%s %d baud %d%s%d, slave %d, %s %d..%d", l.Port, l.Baud, l.DataBits,
		strings.ToUpper(l.Parity[:1]), l.StopBits, r.Slave, r.Table, r.Address, r.Address+r.Count-1)
	clock := r.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	start := clock.Now()
	if r.Table.IsBits() {
		bits, err := m.ReadBits(ctx, byte(r.Slave), fn, uint16(r.Address), uint16(r.Count), tx)
		if err != nil {
			fmt.Fprintln(w)
			return probeErr(err)
		}
		fmt.Fprintf(w, " (answered in %v)\n", clock.Now().Sub(start).Round(time.Millisecond))
		for i, b := range bits {
			v, s := 0, "off"
			if b {
				v, s = 1, "on"
			}
			fmt.Fprintf(w, "  %s %-5d = %d  (%s)\n", r.Table, r.Address+i, v, s)
		}
		return nil
	}
	regs, err := m.ReadRegisters(ctx, byte(r.Slave), fn, uint16(r.Address), uint16(r.Count), tx)
	if err != nil {
		fmt.Fprintln(w)
		return probeErr(err)
	}
	fmt.Fprintf(w, " as %s", r.Type)
	if r.Type.Words() == 2 {
		fmt.Fprintf(w, ", word order %s", r.WordOrder)
	}
	fmt.Fprintf(w, " (answered in %v)\n", clock.Now().Sub(start).Round(time.Millisecond))
	step := r.Type.Words()
	for i := 0; i+step <= len(regs); i += step {
		v, err := Decode(regs[i:], r.Type, r.WordOrder)
		if err != nil {
			return err
		}
		addr := strconv.Itoa(r.Address + i)
		raw := fmt.Sprintf("0x%04X", regs[i])
		if step == 2 {
			addr += "-" + strconv.Itoa(r.Address+i+1)
			raw += fmt.Sprintf(" 0x%04X", regs[i+1])
		}
		bits := 64
		if r.Type == TypeFloat32 {
			bits = 32 // shortest text that reads back as the same float32
		}
		fmt.Fprintf(w, "  %s %-11s = %-14s (%s)\n", r.Table, addr, strconv.FormatFloat(v, 'g', -1, bits), raw)
	}
	return nil
}

// probeErr explains a failed read in an installer's words.
func probeErr(err error) error {
	switch {
	case errors.Is(err, ErrLate):
		return fmt.Errorf("%w\n  the slave answers, but later than --timeout: raise it", err)
	case errors.Is(err, ErrTimeout):
		return fmt.Errorf("%w\n  no answer: check the slave address, baud rate, parity, and the A/B wiring (try swapping A and B)", err)
	case errors.Is(err, ErrCRC), errors.Is(err, ErrShortFrame):
		return fmt.Errorf("%w\n  damaged answer: check baud rate and parity, termination and grounding of the RS-485 line", err)
	case errors.Is(err, ErrBadResponse):
		return fmt.Errorf("%w\n  an answer that is not to this request: another slave with the same address, another master on the line, or an echoing adapter (--echo)", err)
	}
	return err
}
