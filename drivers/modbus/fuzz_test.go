package modbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzRequest makes one request of each kind from the fuzzer's numbers.
func fuzzRequest(sel byte, addr, qty uint16) (PDU, bool) {
	fns := []byte{1, 2, 3, 4, 5, 6, 15, 16}
	switch fn := fns[int(sel)%len(fns)]; fn {
	case 1, 2, 3, 4:
		r, err := ReadRequest(fn, addr, qty)
		return r, err == nil
	case 5:
		return WriteSingleCoil(addr, qty != 0), true
	case 6:
		return WriteSingleRegister(addr, qty), true
	case 15:
		r, err := WriteMultipleCoils(addr, []bool{true, false})
		return r, err == nil
	default:
		r, err := WriteMultipleRegisters(addr, []uint16{qty, 1})
		return r, err == nil
	}
}

// FuzzCheckResponse feeds arbitrary bytes as the answer to each kind of
// request, through the assembler and CheckADU as the master does: nothing
// may panic, and whatever is accepted must answer the request: the slave
// id, the function, exactly the quantity asked for, the write's echo, and a
// good CRC.
func FuzzCheckResponse(f *testing.F) {
	f.Add(byte(1), byte(2), uint16(0), uint16(4), AppendADU(nil, 1, PDU{3, []byte{8, 0, 1, 0, 2, 0, 3, 0, 4}}))
	f.Add(byte(1), byte(0), uint16(0), uint16(10), AppendADU(nil, 1, PDU{1, []byte{2, 0xCD, 0x01}}))
	f.Add(byte(1), byte(2), uint16(0), uint16(4), AppendADU(nil, 1, PDU{0x83, []byte{2}}))
	f.Add(byte(1), byte(4), uint16(0), uint16(0xFF00), AppendADU(nil, 1, PDU{5, []byte{0, 0, 0xFF, 0}}))
	f.Add(byte(1), byte(7), uint16(0), uint16(2), AppendADU(nil, 1, PDU{16, []byte{0, 0, 0, 2}}))
	f.Add(byte(2), byte(2), uint16(40), uint16(1), AppendADU(nil, 1, PDU{3, []byte{2, 0, 140}}))
	f.Add(byte(1), byte(3), uint16(0), uint16(1), []byte{0, 0xFF, 1, 4, 2, 0, 1})
	f.Add(byte(1), byte(1), uint16(0), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, slave, sel byte, addr, qty uint16, data []byte) {
		req, ok := fuzzRequest(sel, addr, qty)
		if !ok {
			return
		}
		if n, err := ResponseLen(req.Function, data); err == nil && n != 0 && (n < 5 || n > 260) {
			t.Fatalf("ResponseLen = %d", n)
		}
		var a Assembler
		a.Reset(slave, req)
		adu, extra, err := a.Feed(append([]byte(nil), data...))
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("Feed: untyped error %v", err)
			}
			return
		}
		if adu == nil {
			return
		}
		if len(adu)+extra+a.Skipped != len(data) {
			t.Fatalf("frame %d + extra %d + skipped %d != %d bytes", len(adu), extra, a.Skipped, len(data))
		}
		resp, err := CheckADU(slave, req, adu)
		if err != nil {
			var ex *ExceptionError
			if !errors.As(err, &ex) && !errors.Is(err, ErrBadResponse) && !errors.Is(err, ErrCRC) {
				t.Fatalf("CheckADU: untyped error %v", err)
			}
			return
		}
		// Accepted: it must answer this request and no other.
		if adu[0] != slave || resp.Function != req.Function {
			t.Fatalf("accepted slave %d function %d for slave %d function %d", adu[0], resp.Function, slave, req.Function)
		}
		if n := len(adu) - 2; binary.LittleEndian.Uint16(adu[n:]) != CRC(adu[:n]) {
			t.Fatalf("accepted a bad CRC")
		}
		want := int(binary.BigEndian.Uint16(req.Data[2:]))
		switch req.Function {
		case 1, 2:
			if got := Bits(resp, want); len(got) != want || len(resp.Data) != 1+(want+7)/8 {
				t.Fatalf("accepted %d bits, %d bytes for %d", len(got), len(resp.Data), want)
			}
		case 3, 4:
			if got := Registers(resp); len(got) != want {
				t.Fatalf("accepted %d registers for %d", len(got), want)
			}
		default:
			if !bytes.Equal(resp.Data, req.Data[:4]) {
				t.Fatalf("accepted echo % x for % x", resp.Data, req.Data[:4])
			}
		}
	})
}

// FuzzAssembler cuts an arbitrary stream into arbitrary pieces: the
// assembler must never panic, never return more than it was given, and
// return the same frame, or the same mismatch, however the stream is cut.
func FuzzAssembler(f *testing.F) {
	frame := AppendADU(nil, 7, PDU{3, []byte{4, 0x12, 0x34, 0x56, 0x78}})
	f.Add(byte(7), byte(2), uint16(2), uint8(3), append([]byte{0, 0xFF}, frame...))
	f.Add(byte(1), byte(0), uint16(1), uint8(1), AppendADU(nil, 1, PDU{0x81, []byte{1}}))
	f.Add(byte(1), byte(7), uint16(2), uint8(2), AppendADU(nil, 1, PDU{16, []byte{0, 1, 0, 2}}))
	f.Add(byte(1), byte(2), uint16(1), uint8(1), []byte{1, 9, 9, 9})
	f.Fuzz(func(t *testing.T, slave, sel byte, qty uint16, chunk uint8, stream []byte) {
		req, ok := fuzzRequest(sel, 0, qty)
		if !ok {
			return
		}
		var whole Assembler
		whole.Reset(slave, req)
		want, _, wantErr := whole.Feed(append([]byte(nil), stream...))
		want = append([]byte(nil), want...)
		if len(want) > len(stream) {
			t.Fatalf("frame of %d from %d bytes", len(want), len(stream))
		}
		if len(want) > 0 && !bytes.Contains(stream, want) {
			t.Fatalf("frame % x not in stream", want)
		}
		c := int(chunk%16) + 1
		var a Assembler
		a.Reset(slave, req)
		var got []byte
		var err error
		for i := 0; i < len(stream) && got == nil && err == nil; i += c {
			got, _, err = a.Feed(stream[i:min(i+c, len(stream))])
		}
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: got % x, %v; want % x, %v", c, got, err, want, wantErr)
		}
	})
}

// FuzzTCPResponse feeds an arbitrary byte stream as the answers to one
// request, cut into frames by SplitTCPFrame and checked by
// CheckTCPResponse as the TCP master does: nothing may panic, the stream
// is consumed in bounded frames, and whatever is accepted answers the
// request: its transaction id, unit id, function, quantity or echo.
func FuzzTCPResponse(f *testing.F) {
	f.Add(uint16(1), byte(1), byte(2), uint16(0), uint16(2), AppendTCPFrame(nil, 1, 1, PDU{3, []byte{4, 0, 1, 0, 2}}))
	f.Add(uint16(5), byte(3), byte(2), uint16(0), uint16(1), append(AppendTCPFrame(nil, 4, 3, PDU{3, []byte{2, 0, 9}}), AppendTCPFrame(nil, 5, 3, PDU{3, []byte{2, 0, 1}})...))
	f.Add(uint16(1), byte(1), byte(0), uint16(0), uint16(9), AppendTCPFrame(nil, 1, 1, PDU{0x81, []byte{2}}))
	f.Add(uint16(1), byte(1), byte(4), uint16(7), uint16(0xFF00), AppendTCPFrame(nil, 1, 1, PDU{5, []byte{0, 7, 0xFF, 0}}))
	f.Add(uint16(1), byte(1), byte(2), uint16(0), uint16(1), []byte{0, 1, 0, 0, 0, 255, 1})
	f.Add(uint16(0), byte(0), byte(0), uint16(0), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, tid uint16, unit, sel byte, addr, qty uint16, stream []byte) {
		req, ok := fuzzRequest(sel, addr, qty)
		if !ok {
			return
		}
		want, _ := ExpectLen(req)
		for len(stream) > 0 {
			h, resp, n, err := SplitTCPFrame(stream)
			if err != nil {
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("untyped error %v", err)
				}
				return // the master drops the connection
			}
			if n == 0 {
				if len(stream) >= MaxTCPFrame {
					t.Fatalf("%d bytes held without a frame", len(stream))
				}
				return
			}
			if n > MaxTCPFrame || n < 8 {
				t.Fatalf("frame of %d bytes", n)
			}
			stream = stream[n:]
			err = CheckTCPResponse(tid, unit, req, h, resp)
			var ex *ExceptionError
			switch {
			case errors.As(err, &ex):
				if h.Transaction != tid || h.Unit != unit || resp.Function != req.Function|0x80 {
					t.Fatalf("exception accepted from %+v %+v", h, resp)
				}
			case err == nil:
				if h.Transaction != tid || h.Unit != unit || resp.Function != req.Function || 1+len(resp.Data) != want-3 {
					t.Fatalf("accepted %+v %+v as the answer to tid %d unit %d %+v", h, resp, tid, unit, req)
				}
				if req.Function >= FuncWriteSingleCoil && string(resp.Data) != string(req.Data[:4]) {
					t.Fatalf("write echo % x accepted for % x", resp.Data, req.Data)
				}
			case !errors.Is(err, ErrBadResponse):
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}
