// Package modbustest is a small in-process Modbus RTU slave for tests and
// benchmarks: it serves several slave addresses on one stream (the far end
// of a pty) and can pace its answers as a real line at a given baud would.
// Protocol conformance is tested against libmodbus; this slave is for speed
// and for bus-level scenarios (many slaves on one line).
package modbustest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus"
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
			l, err := modbus.RequestLen(buf)
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
			if resp == nil {
				continue
			}
			if s.CharTime > 0 {
				sil := s.Silence
				if sil == 0 {
					sil = 7 * s.CharTime / 2
				}
				time.Sleep(time.Duration(len(req)+len(resp))*s.CharTime + sil)
			}
			if _, err := rw.Write(resp); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Slave) answer(adu []byte) []byte {
	slave, p, err := modbus.DecodeADU(adu)
	if err != nil || len(p.Data) < 4 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.banks[slave]
	if b == nil {
		return nil
	}
	s.served++
	addr := int(binary.BigEndian.Uint16(p.Data))
	qty := int(binary.BigEndian.Uint16(p.Data[2:]))
	out := modbus.PDU{Function: p.Function}
	ex := func(code byte) []byte {
		return modbus.AppendADU(nil, slave, modbus.PDU{Function: p.Function | 0x80, Data: []byte{code}})
	}
	bits := func(t []bool) []byte {
		if addr+qty > len(t) || qty == 0 {
			return nil
		}
		d := modbus.PackBits(t[addr : addr+qty])
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
	case modbus.FuncReadCoils:
		out.Data = bits(b.Coils)
	case modbus.FuncReadDiscreteInputs:
		out.Data = bits(b.Discrete)
	case modbus.FuncReadHoldingRegisters:
		out.Data = regs(b.Holding)
	case modbus.FuncReadInputRegisters:
		out.Data = regs(b.Input)
	case modbus.FuncWriteSingleCoil:
		if addr >= len(b.Coils) {
			return ex(modbus.ExIllegalDataAddress)
		}
		b.Coils[addr] = qty == 0xFF00
		out.Data = p.Data[:4]
	case modbus.FuncWriteSingleRegister:
		if addr >= len(b.Holding) {
			return ex(modbus.ExIllegalDataAddress)
		}
		b.Holding[addr] = uint16(qty)
		out.Data = p.Data[:4]
	case modbus.FuncWriteMultipleCoils:
		if addr+qty > len(b.Coils) || len(p.Data) < 5+(qty+7)/8 {
			return ex(modbus.ExIllegalDataAddress)
		}
		for i := range qty {
			b.Coils[addr+i] = p.Data[5+i/8]&(1<<(i%8)) != 0
		}
		out.Data = p.Data[:4]
	case modbus.FuncWriteMultipleRegisters:
		if addr+qty > len(b.Holding) || len(p.Data) < 5+2*qty {
			return ex(modbus.ExIllegalDataAddress)
		}
		for i := range qty {
			b.Holding[addr+i] = binary.BigEndian.Uint16(p.Data[5+2*i:])
		}
		out.Data = p.Data[:4]
	default:
		return ex(modbus.ExIllegalFunction)
	}
	if out.Data == nil {
		return ex(modbus.ExIllegalDataAddress)
	}
	return modbus.AppendADU(nil, slave, out)
}

// ErrNoPTY is returned where pseudo-terminals are not available.
var ErrNoPTY = errors.New("modbustest: pseudo-terminals are not available on this OS")
