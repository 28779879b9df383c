package modbus

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseResponse feeds arbitrary bytes as the answer to each kind of
// request: nothing may panic, and whatever is accepted must be consistent.
func FuzzParseResponse(f *testing.F) {
	f.Add(byte(3), uint16(4), AppendADU(nil, 1, PDU{3, []byte{8, 0, 1, 0, 2, 0, 3, 0, 4}}))
	f.Add(byte(1), uint16(10), AppendADU(nil, 1, PDU{1, []byte{2, 0xCD, 0x01}}))
	f.Add(byte(3), uint16(4), AppendADU(nil, 1, PDU{0x83, []byte{2}}))
	f.Add(byte(5), uint16(0xFF00), AppendADU(nil, 1, PDU{5, []byte{0, 0, 0xFF, 0}}))
	f.Add(byte(16), uint16(2), AppendADU(nil, 1, PDU{16, []byte{0, 0, 0, 2}}))
	f.Add(byte(4), uint16(1), []byte{1, 4, 0xFF})
	f.Add(byte(2), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, sel byte, qty uint16, data []byte) {
		fns := []byte{1, 2, 3, 4, 5, 6, 15, 16}
		fn := fns[int(sel)%len(fns)]
		var req PDU
		switch fn {
		case 1, 2, 3, 4:
			r, err := ReadRequest(fn, 0, qty)
			if err != nil {
				return
			}
			req = r
		case 5:
			req = WriteSingleCoil(0, qty != 0)
		case 6:
			req = WriteSingleRegister(0, qty)
		case 15:
			req, _ = WriteMultipleCoils(0, []bool{true, false})
		case 16:
			req, _ = WriteMultipleRegisters(0, []uint16{qty, 1})
		}
		n, err := ResponseLen(fn, data)
		if err == nil && n != 0 && (n < 5 || n > 260) {
			t.Fatalf("ResponseLen = %d", n)
		}
		_, resp, err := DecodeADU(data)
		if err != nil {
			if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrBadResponse) {
				t.Fatalf("DecodeADU: untyped error %v", err)
			}
			return
		}
		if err := CheckResponse(req, resp); err != nil {
			var ex *ExceptionError
			if !errors.As(err, &ex) && !errors.Is(err, ErrBadResponse) {
				t.Fatalf("CheckResponse: untyped error %v", err)
			}
			return
		}
		switch fn {
		case 1, 2:
			if got := Bits(resp, int(qty)); len(got) != int(qty) {
				t.Fatalf("accepted %d bits for %d", len(got), qty)
			}
		case 3, 4:
			if got := Registers(resp); len(got) != int(qty) {
				t.Fatalf("accepted %d registers for %d", len(got), qty)
			}
		}
	})
}

// FuzzAssembler cuts an arbitrary stream into arbitrary pieces: the
// assembler must never panic, never return more than it was given, and
// return the same frame however the stream is cut.
func FuzzAssembler(f *testing.F) {
	frame := AppendADU(nil, 7, PDU{3, []byte{4, 0x12, 0x34, 0x56, 0x78}})
	f.Add(byte(7), byte(3), uint8(3), append([]byte{0, 0xFF, 7, 0x99}, frame...))
	f.Add(byte(1), byte(1), uint8(1), AppendADU(nil, 1, PDU{0x81, []byte{1}}))
	f.Add(byte(1), byte(16), uint8(2), AppendADU(nil, 1, PDU{16, []byte{0, 1, 0, 2}}))
	f.Add(byte(1), byte(9), uint8(1), []byte{1, 9, 9, 9})
	f.Fuzz(func(t *testing.T, slave, fn byte, chunk uint8, stream []byte) {
		var whole Assembler
		whole.Reset(slave, fn)
		want, _ := whole.Feed(append([]byte(nil), stream...))
		want = append([]byte(nil), want...)
		if len(want) > len(stream) {
			t.Fatalf("frame of %d from %d bytes", len(want), len(stream))
		}
		if len(want) > 0 && !bytes.Contains(stream, want) {
			t.Fatalf("frame % x not in stream", want)
		}
		c := int(chunk%16) + 1
		var a Assembler
		a.Reset(slave, fn)
		var got []byte
		for i := 0; i < len(stream) && got == nil; i += c {
			got, _ = a.Feed(stream[i:min(i+c, len(stream))])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: got % x, want % x", c, got, want)
		}
	})
}
