// Package modbustest is a small in-process Modbus RTU slave for tests and
// benchmarks: it serves several slave addresses on one stream (the far end
// of a pty) and can pace its answers as a real line at a given baud would.
// Protocol conformance is tested against libmodbus; this slave is for speed
// and for bus-level scenarios (many slaves on one line). It shares no code
// with the master it serves: its CRC and framing are its own.
package modbustest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Bank is one slave's data tables.
type Bank struct {
	Coils, Discrete []bool
	Holding, Input  []uint16
}

// Slave answers requests for the addresses in Banks.
type Slave struct {
	// CharTime, when set, paces every answer as a real line would: the
	// request's and the answer's characters take CharTime each, and the
	// slave needs the 3.5-character silence to see the request's end.
	CharTime time.Duration
	// Silence is that end-of-frame silence. Default: 3.5 * CharTime.
	Silence time.Duration
	// Echo sends every request back before its answer, as an RS-485
	// adapter whose receiver is always on does.
	Echo bool
	// Clock paces the answers. Default: edge.SystemClock.
	Clock edge.Clock

	mu     sync.Mutex
	banks  map[byte]*Bank
	served int
}

// New makes a slave serving banks.
func New(banks map[byte]*Bank) *Slave { return &Slave{banks: banks} }

// Served counts the requests answered.
func (s *Slave) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Bank returns the bank of address a, to read or change under Lock.
func (s *Slave) Bank(a byte) *Bank { return s.banks[a] }

// Lock and Unlock guard the banks while a test changes them.
func (s *Slave) Lock()   { s.mu.Lock() }
func (s *Slave) Unlock() { s.mu.Unlock() }

// Serve reads requests from rw and answers them until ctx ends or rw fails.
func (s *Slave) Serve(ctx context.Context, rw io.ReadWriter) error {
	var buf []byte
	rb := make([]byte, 512)
	for ctx.Err() == nil {
		n, err := rw.Read(rb)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		buf = append(buf, rb[:n]...)
		for len(buf) >= 2 {
			l, err := requestLen(buf)
			if err != nil {
				buf = buf[1:]
				continue
			}
			if l == 0 || len(buf) < l {
				break
			}
			req := append([]byte(nil), buf[:l]...)
			buf = buf[l:]
			resp := s.answer(req)
			if s.Echo {
				resp = append(append([]byte(nil), req...), resp...)
			}
			if resp == nil {
				continue
			}
			if s.CharTime > 0 {
				sil := s.Silence
				if sil == 0 {
					sil = 7 * s.CharTime / 2
				}
				if err := edge.Sleep(ctx, s.Clock, time.Duration(len(req)+len(resp))*s.CharTime+sil); err != nil {
					return nil
				}
			}
			if _, err := rw.Write(resp); err != nil {
				return err
			}
		}
	}
	return nil
}

type pdu struct {
	Function byte
	Data     []byte
}

func crc(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
	}
	return c
}

func frame(slave byte, p pdu) []byte {
	b := append([]byte{slave, p.Function}, p.Data...)
	return binary.LittleEndian.AppendUint16(b, crc(b))
}

func packBits(bits []bool) []byte {
	b := make([]byte, (len(bits)+7)/8)
	for i, on := range bits {
		if on {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// requestLen is the length of a request frame from its first bytes (0: more
// needed, -1: not a function this slave knows).
func requestLen(h []byte) (int, error) {
	switch {
	case len(h) < 2:
		return 0, nil
	case h[1] >= 1 && h[1] <= 6:
		return 8, nil
	case h[1] == 15 || h[1] == 16:
		if len(h) < 7 {
			return 0, nil
		}
		return 9 + int(h[6]), nil
	}
	return 0, errors.New("unknown function")
}

func (s *Slave) answer(adu []byte) []byte {
	n := len(adu) - 2
	if n < 6 || binary.LittleEndian.Uint16(adu[n:]) != crc(adu[:n]) {
		return nil
	}
	slave, p := adu[0], pdu{adu[1], adu[2:n]}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.banks[slave]
	if b == nil {
		return nil
	}
	s.served++
	addr := int(binary.BigEndian.Uint16(p.Data))
	qty := int(binary.BigEndian.Uint16(p.Data[2:]))
	out := pdu{Function: p.Function}
	ex := func(code byte) []byte {
		return frame(slave, pdu{Function: p.Function | 0x80, Data: []byte{code}})
	}
	bits := func(t []bool) []byte {
		if addr+qty > len(t) || qty == 0 {
			return nil
		}
		d := packBits(t[addr : addr+qty])
		return append([]byte{byte(len(d))}, d...)
	}
	regs := func(t []uint16) []byte {
		if addr+qty > len(t) || qty == 0 {
			return nil
		}
		d := []byte{byte(2 * qty)}
		for _, v := range t[addr : addr+qty] {
			d = binary.BigEndian.AppendUint16(d, v)
		}
		return d
	}
	switch p.Function {
	case 1:
		out.Data = bits(b.Coils)
	case 2:
		out.Data = bits(b.Discrete)
	case 3:
		out.Data = regs(b.Holding)
	case 4:
		out.Data = regs(b.Input)
	case 5:
		if addr >= len(b.Coils) {
			return ex(2)
		}
		b.Coils[addr] = qty == 0xFF00
		out.Data = p.Data[:4]
	case 6:
		if addr >= len(b.Holding) {
			return ex(2)
		}
		b.Holding[addr] = uint16(qty)
		out.Data = p.Data[:4]
	case 15:
		if addr+qty > len(b.Coils) || len(p.Data) < 5+(qty+7)/8 {
			return ex(2)
		}
		for i := range qty {
			b.Coils[addr+i] = p.Data[5+i/8]&(1<<(i%8)) != 0
		}
		out.Data = p.Data[:4]
	case 16:
		if addr+qty > len(b.Holding) || len(p.Data) < 5+2*qty {
			return ex(2)
		}
		for i := range qty {
			b.Holding[addr+i] = binary.BigEndian.Uint16(p.Data[5+2*i:])
		}
		out.Data = p.Data[:4]
	default:
		return ex(1)
	}
	if out.Data == nil {
		return ex(2)
	}
	return frame(slave, out)
}

// ErrNoPTY is returned where pseudo-terminals are not available.
var ErrNoPTY = errors.New("modbustest: pseudo-terminals are not available on this OS")
