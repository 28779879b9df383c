package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
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
	// Scale, Offset and Decimals print each number scaled as the driver
	// would send it (Scale 0: not scaled). Decimals nil: derived as the
	// driver derives it.
	Scale, Offset float64
	Decimals      *int
	Timeout       time.Duration // default DefaultTimeout
	Retries       int
	Clock         edge.Clock // times the answer; default edge.SystemClock
	Lang          i18n.Lang  // of the lines printed and the hints; default English
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
		return edge.Msgf("slave %d out of range 1..247", r.Slave)
	}
	if r.Type == "" {
		r.Type = TypeUint16
		if r.Table.IsBits() {
			r.Type = TypeBool
		}
	}
	if r.Table.IsBits() && r.Type != TypeBool {
		return edge.Msgf("a %s is a single bit; --type does not apply", r.Table)
	}
	if !r.Table.IsBits() && r.Type == TypeBool {
		return edge.Msgf("type bool applies to coils and discrete inputs")
	}
	limit := MaxReadRegisters
	if r.Table.IsBits() {
		limit = MaxReadBits
	}
	if r.Count < 1 || r.Count > limit || r.Address+r.Count > 0x10000 {
		return edge.Msgf("count %d at address %d out of range (1..%d, not past 65535)", r.Count, r.Address, limit)
	}
	if w := r.Type.Words(); w > 0 && r.Count%w != 0 {
		return edge.Msgf("%s takes %d registers: count %d is not a multiple of %d", r.Type, w, r.Count, w)
	}
	if r.Type == TypeString && r.WordOrder.wordSwap() {
		return edge.Msgf("a string's order is ABCD or BADC")
	}
	if math.IsNaN(r.Scale) || math.IsInf(r.Scale, 0) || math.IsNaN(r.Offset) || math.IsInf(r.Offset, 0) {
		return edge.Msgf("scale %v and offset %v must be numbers", r.Scale, r.Offset)
	}
	if r.Decimals != nil && (*r.Decimals < 0 || *r.Decimals > 12) {
		return edge.Msgf("decimals %d out of range 0..12", *r.Decimals)
	}
	return nil
}

// Probe opens the port (or connects), reads once and prints the decoded
// values to w.
func Probe(ctx context.Context, r ProbeRequest, w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m, err := NewClient(r.Line)
	if err != nil {
		return err
	}
	defer m.Close()
	if c, ok := m.(interface{ SetClock(edge.Clock) }); ok {
		c.SetClock(r.Clock)
	}
	return ProbeWith(ctx, m, r, w)
}

// ProbeWith is Probe on a client already made.
func ProbeWith(ctx context.Context, m Client, r ProbeRequest, w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	tx := Tx{Timeout: r.Timeout, Retries: r.Retries}
	fn := r.Table.ReadFunction()
	l := m.Line()
	serialSide := fmt.Sprintf("%d baud %d%s%d", l.Baud, l.DataBits, strings.ToUpper(l.Parity[:1]), l.StopBits)
	who := "slave"
	switch l.Transport {
	case TransportTCP:
		fmt.Fprintf(w, "%s", l.Name())
		who = "unit"
	case TransportRTUOverTCP:
		i18n.Fprintf(w, r.Lang, "%s (%s on its serial side)", l.Name(), serialSide)
	default:
		fmt.Fprintf(w, "%s %s", l.Name(), serialSide)
	}
	fmt.Fprintf(w, ", %s %d, %s %d..%d", who, r.Slave, r.Table, r.Address, r.Address+r.Count-1)
	clock := r.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	start := clock.Now()
	if r.Table.IsBits() {
		bits, err := readBits(ctx, m, byte(r.Slave), fn, uint16(r.Address), uint16(r.Count), tx)
		if err != nil {
			fmt.Fprintln(w)
			return probeErr(err, r.Lang)
		}
		i18n.Fprintf(w, r.Lang, " (answered in %v)\n", clock.Now().Sub(start).Round(time.Millisecond))
		for i, b := range bits {
			v, s := 0, "off"
			if b {
				v, s = 1, "on"
			}
			fmt.Fprintf(w, "  %s %-5d = %d  (%s)\n", r.Table, r.Address+i, v, s)
		}
		return nil
	}
	regs, err := readRegisters(ctx, m, byte(r.Slave), fn, uint16(r.Address), uint16(r.Count), tx)
	if err != nil {
		fmt.Fprintln(w)
		return probeErr(err, r.Lang)
	}
	fmt.Fprintf(w, " as %s", r.Type)
	if r.Type.Words() != 1 || r.WordOrder != OrderABCD {
		fmt.Fprintf(w, ", order %s", r.WordOrder)
	}
	scale := r.Scale
	if scale == 0 {
		scale = 1
	}
	decimals := -1
	switch {
	case r.Decimals != nil:
		decimals = *r.Decimals
	case r.Type.IsInteger() && (scale != 1 || r.Offset != 0):
		decimals = min(max(Decimals(scale), Decimals(r.Offset)), 12)
	}
	scaled := scale != 1 || r.Offset != 0 || r.Decimals != nil
	if scaled {
		fmt.Fprintf(w, ", x %v + %v", scale, r.Offset)
		if decimals >= 0 {
			i18n.Fprintf(w, r.Lang, ", %d decimals", decimals)
		}
	}
	i18n.Fprintf(w, r.Lang, " (answered in %v)\n", clock.Now().Sub(start).Round(time.Millisecond))
	step := r.Type.Words()
	if step == 0 { // a string: the whole read
		step = len(regs)
	}
	for i := 0; i+step <= len(regs); i += step {
		v, err := DecodeValue(regs[i:i+step], r.Type, r.WordOrder)
		if err != nil {
			return err
		}
		addr := strconv.Itoa(r.Address + i)
		if step > 1 {
			addr += "-" + strconv.Itoa(r.Address+i+step-1)
		}
		raw := make([]string, 0, step)
		for _, x := range regs[i : i+step] {
			raw = append(raw, fmt.Sprintf("0x%04X", x))
		}
		line := fmt.Sprintf("  %s %-11s = %-20s (%s)", r.Table, addr, v, strings.Join(raw, " "))
		if scaled && r.Type != TypeString {
			line += "  -> " + strconv.FormatFloat(Round(v.Float()*scale+r.Offset, decimals), 'f', -1, 64)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// probeErr explains a failed read in an installer's words.
func probeErr(err error, lang i18n.Lang) error {
	switch {
	case errors.Is(err, ErrConnect):
		return i18n.Errorf(lang, "%w\n  no connection: check the address and port (502 for Modbus TCP; the device server's own for RTU over TCP), that the device is powered and on this network", err)
	case errors.Is(err, ErrDisconnected):
		return i18n.Errorf(lang, "%w\n  the device closed the connection: it may take fewer connections than are open (stop the gateway), or not speak this protocol (tcp or rtu-over-tcp?)", err)
	case errors.Is(err, ErrLate):
		return i18n.Errorf(lang, "%w\n  the slave answers, but later than --timeout: raise it", err)
	case errors.Is(err, ErrTimeout):
		return i18n.Errorf(lang, "%w\n  no answer: check the slave address, baud rate, parity, and the A/B wiring (try swapping A and B)", err)
	case errors.Is(err, ErrCRC), errors.Is(err, ErrShortFrame):
		return i18n.Errorf(lang, "%w\n  damaged answer: check baud rate and parity, termination and grounding of the RS-485 line", err)
	case errors.Is(err, ErrBadResponse):
		return i18n.Errorf(lang, "%w\n  an answer that is not to this request: another slave with the same address, another master on the line, or an echoing adapter (--echo)", err)
	}
	return err
}
