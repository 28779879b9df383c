package modbus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestCRCKnownFrames(t *testing.T) {
	// Frames from the Modbus over serial line spec and device manuals.
	for _, tc := range []struct{ frame string }{
		{"01 03 00 00 00 0a c5 cd"}, // read 10 holding registers of slave 1
		{"11 03 00 6b 00 03 76 87"}, // spec example: slave 17, 3 registers at 107
		{"01 05 00 00 ff 00 8c 3a"}, // write coil 0 on
		{"01 06 00 01 00 03 98 0b"}, // write register 1 = 3
	} {
		b, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(tc.frame), []byte(" "), nil)))
		n := len(b) - 2
		got := CRC(b[:n])
		want := uint16(b[n]) | uint16(b[n+1])<<8
		if got != want {
			t.Errorf("CRC(% x) = %04x, want %04x", b[:n], got, want)
		}
		if _, _, err := DecodeADU(b); err != nil {
			t.Errorf("DecodeADU(% x): %v", b, err)
		}
	}
}

func TestRequestsEncode(t *testing.T) {
	req, err := ReadRequest(FuncReadHoldingRegisters, 0x6b, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := AppendADU(nil, 0x11, req), []byte{0x11, 3, 0, 0x6b, 0, 3, 0x76, 0x87}; !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
	p, _ := WriteMultipleCoils(19, []bool{true, false, true, true, false, false, true, true, true, false})
	if got, want := p.Data, []byte{0, 19, 0, 10, 2, 0xCD, 0x01}; !bytes.Equal(got, want) {
		t.Errorf("fc15 data % x, want % x (spec example)", got, want)
	}
	p, _ = WriteMultipleRegisters(1, []uint16{0x000A, 0x0102})
	if got, want := p.Data, []byte{0, 1, 0, 2, 4, 0, 0x0A, 1, 2}; !bytes.Equal(got, want) {
		t.Errorf("fc16 data % x, want % x (spec example)", got, want)
	}
	for _, bad := range []struct {
		fn       byte
		addr, qt uint16
	}{{3, 0, 0}, {3, 0, 126}, {1, 0, 2001}, {3, 65535, 2}, {7, 0, 1}} {
		if _, err := ReadRequest(bad.fn, bad.addr, bad.qt); err == nil {
			t.Errorf("ReadRequest(%d, %d, %d): no error", bad.fn, bad.addr, bad.qt)
		}
	}
}

func TestCheckResponse(t *testing.T) {
	rd, _ := ReadRequest(FuncReadHoldingRegisters, 0, 2)
	ok := PDU{3, []byte{4, 0, 1, 0, 2}}
	if err := CheckResponse(rd, ok); err != nil {
		t.Fatalf("good response: %v", err)
	}
	if got := Registers(ok); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("Registers = %v", got)
	}
	err := CheckResponse(rd, PDU{0x83, []byte{2}})
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Code != ExIllegalDataAddress || ex.Function != 3 {
		t.Fatalf("exception: got %v", err)
	}
	if want := "ILLEGAL DATA ADDRESS"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not name %q", err, want)
	}
	for name, resp := range map[string]PDU{
		"short count": {3, []byte{2, 0, 1}},
		"count lies":  {3, []byte{4, 0, 1}},
		"wrong fn":    {4, []byte{4, 0, 1, 0, 2}},
		"empty":       {3, nil},
		"bad exc":     {0x83, nil},
		"extra data":  {3, []byte{4, 0, 1, 0, 2, 9}},
	} {
		if err := CheckResponse(rd, resp); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: got %v, want ErrBadResponse", name, err)
		}
	}
	wr := WriteSingleRegister(5, 7)
	if err := CheckResponse(wr, PDU{6, []byte{0, 5, 0, 7}}); err != nil {
		t.Errorf("write echo: %v", err)
	}
	if err := CheckResponse(wr, PDU{6, []byte{0, 5, 0, 8}}); !errors.Is(err, ErrBadResponse) {
		t.Errorf("wrong echo: got %v", err)
	}
	for code := byte(1); code <= 11; code++ {
		if code == 9 {
			continue
		}
		if n := ExceptionName(code); n == "" || n[:7] == "UNKNOWN" {
			t.Errorf("exception %d has no name", code)
		}
	}
}

func TestAssemblerSplitsAndResyncs(t *testing.T) {
	frame := AppendADU(nil, 7, PDU{3, []byte{4, 0x12, 0x34, 0x56, 0x78}})
	stream := append([]byte{0x00, 0xFF, 0x07, 0x99}, frame...) // noise, then our slave id with a wrong function
	stream = append(stream, 0xAA)                              // a trailing byte
	for chunk := 1; chunk <= len(stream); chunk++ {
		var a Assembler
		a.Reset(7, 3)
		var got []byte
		var extra int
		for i := 0; i < len(stream) && got == nil; i += chunk {
			got, extra = a.Feed(stream[i:min(i+chunk, len(stream))])
		}
		if !bytes.Equal(got, frame) {
			t.Fatalf("chunk %d: got % x, want % x", chunk, got, frame)
		}
		if a.Skipped != 4 {
			t.Errorf("chunk %d: skipped %d, want 4", chunk, a.Skipped)
		}
		_ = extra
	}
	// An exception frame is 5 bytes whatever the request.
	var a Assembler
	a.Reset(1, 3)
	ex := AppendADU(nil, 1, PDU{0x83, []byte{2}})
	if got, _ := a.Feed(ex); !bytes.Equal(got, ex) {
		t.Errorf("exception: got % x", got)
	}
}

func TestValuesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		t    DataType
		o    WordOrder
		v    float64
		regs []uint16
	}{
		{TypeInt16, WordsBig, -123, []uint16{0xFF85}},
		{TypeUint16, WordsBig, 1234, []uint16{1234}},
		{TypeInt32, WordsBig, -123456, []uint16{0xFFFE, 0x1DC0}},
		{TypeInt32, WordsLittle, -123456, []uint16{0x1DC0, 0xFFFE}},
		{TypeUint32, WordsBig, 3000000000, []uint16{0xB2D0, 0x5E00}},
		{TypeUint32, WordsLittle, 3000000000, []uint16{0x5E00, 0xB2D0}},
		{TypeFloat32, WordsBig, 21.5, []uint16{0x41AC, 0x0000}},
		{TypeFloat32, WordsLittle, 21.5, []uint16{0x0000, 0x41AC}},
	} {
		regs, err := Encode(tc.v, tc.t, tc.o)
		if err != nil || len(regs) != len(tc.regs) || regs[0] != tc.regs[0] || regs[len(regs)-1] != tc.regs[len(regs)-1] {
			t.Errorf("Encode(%v, %s, %s) = %04x, %v; want %04x", tc.v, tc.t, tc.o, regs, err, tc.regs)
		}
		v, err := Decode(tc.regs, tc.t, tc.o)
		if err != nil || v != tc.v {
			t.Errorf("Decode(%04x, %s, %s) = %v, %v; want %v", tc.regs, tc.t, tc.o, v, err, tc.v)
		}
	}
	if _, err := Encode(70000, TypeInt16, WordsBig); err == nil {
		t.Error("Encode(70000, int16): no error")
	}
	if v, _ := Decode([]uint16{0x7FC0, 0}, TypeFloat32, WordsBig); !math.IsNaN(v) {
		t.Errorf("NaN float: got %v", v)
	}
}

func TestSilence(t *testing.T) {
	for _, tc := range []struct {
		l    Line
		want float64 // microseconds
	}{
		{Line{Baud: 9600, DataBits: 8, Parity: "even", StopBits: 1}, 3.5 * 11 / 9600 * 1e6},
		{Line{Baud: 19200, DataBits: 8, Parity: "none", StopBits: 2}, 3.5 * 11 / 19200 * 1e6},
		{Line{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}, 3.5 * 10 / 9600 * 1e6},
		{Line{Baud: 38400, DataBits: 8, Parity: "even", StopBits: 1}, 1750},
		{Line{Baud: 115200, DataBits: 8, Parity: "even", StopBits: 1}, 1750},
	} {
		got := float64(tc.l.Silence().Microseconds())
		if math.Abs(got-tc.want) > 1 {
			t.Errorf("%+v: silence %vµs, want %.0fµs", tc.l, got, tc.want)
		}
	}
}

func BenchmarkCRC(b *testing.B) {
	buf := make([]byte, 253)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		CRC(buf)
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	var dst []byte
	for b.Loop() {
		req, _ := ReadRequest(FuncReadHoldingRegisters, 0, 4)
		dst = AppendADU(dst[:0], 1, req)
	}
}

func BenchmarkParseResponse(b *testing.B) {
	req, _ := ReadRequest(FuncReadHoldingRegisters, 0, 4)
	frame := AppendADU(nil, 1, PDU{3, []byte{8, 0, 1, 0, 2, 0, 3, 0, 4}})
	var a Assembler
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		a.Reset(1, 3)
		adu, _ := a.Feed(frame)
		_, resp, err := DecodeADU(adu)
		if err != nil || CheckResponse(req, resp) != nil {
			b.Fatal("bad")
		}
		_ = Registers(resp)
	}
}

func mustRead(t *testing.T, fn byte, addr, qty uint16) PDU {
	t.Helper()
	p, err := ReadRequest(fn, addr, qty)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
