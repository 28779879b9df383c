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

// TestAssembler cuts every case into every chunk size: the frame, or the
// mismatch, comes out the same.
func TestAssembler(t *testing.T) {
	rd := PDU{3, []byte{0, 0, 0, 2}} // read 2 holding registers: 9-byte answer
	good := AppendADU(nil, 7, PDU{3, []byte{4, 0x12, 0x34, 0x56, 0x78}})
	for _, tc := range []struct {
		name     string
		stream   []byte
		want     []byte // the frame; nil when the stream is a mismatch
		skipped  int
		mismatch bool
	}{
		{"whole", good, good, 0, false},
		{"turnaround glitch", append([]byte{0x00, 0xFF}, good...), good, 2, false},
		{"trailing byte", append(append([]byte(nil), good...), 0xAA), good, 0, false},
		{"exception", AppendADU(nil, 7, PDU{0x83, []byte{2}}), AppendADU(nil, 7, PDU{0x83, []byte{2}}), 0, false},
		{"another slave", AppendADU(nil, 8, PDU{3, []byte{4, 0x12, 0x34, 0x56, 0x78}}), nil, 0, true},
		{"noise first", append([]byte{0x99}, good...), nil, 0, true},
		{"wrong function", AppendADU(nil, 7, PDU{4, []byte{4, 0x12, 0x34, 0x56, 0x78}}), nil, 0, true},
		{"wrong byte count", AppendADU(nil, 7, PDU{3, []byte{2, 0x12, 0x34}}), nil, 0, true},
		{"too long a count", AppendADU(nil, 7, PDU{3, []byte{6, 0, 0, 0x12, 0x34, 0x56, 0x78}}), nil, 0, true},
	} {
		for chunk := 1; chunk <= len(tc.stream); chunk++ {
			var a Assembler
			a.Reset(7, rd)
			var got []byte
			var err error
			for i := 0; i < len(tc.stream) && got == nil && err == nil; i += chunk {
				got, _, err = a.Feed(tc.stream[i:min(i+chunk, len(tc.stream))])
			}
			if tc.mismatch {
				if !errors.Is(err, ErrBadResponse) || got != nil {
					t.Errorf("%s, chunk %d: got % x, %v; want ErrBadResponse", tc.name, chunk, got, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("%s, chunk %d: got % x, %v; want % x", tc.name, chunk, got, err, tc.want)
			}
			if a.Skipped != tc.skipped {
				t.Errorf("%s, chunk %d: skipped %d, want %d", tc.name, chunk, a.Skipped, tc.skipped)
			}
		}
	}
}

// TestCheckADU: a whole frame is checked against its request: CRC, slave
// id, function, byte count, write echo. Nothing that fails is decoded.
func TestCheckADU(t *testing.T) {
	rd := mustRead(t, FuncReadHoldingRegisters, 40, 1)
	coils := mustRead(t, FuncReadCoils, 0, 10)
	wr := WriteSingleRegister(5, 7)
	wc := WriteSingleCoil(3, true)
	wm, _ := WriteMultipleRegisters(10, []uint16{1, 2})
	bad := func(adu []byte) []byte { adu[len(adu)-1] ^= 0x55; return adu }
	for _, tc := range []struct {
		name  string
		req   PDU
		adu   []byte
		want  error // nil: accepted
		value uint16
	}{
		{"read", rd, AppendADU(nil, 1, PDU{3, []byte{2, 0, 140}}), nil, 140},
		{"bits", coils, AppendADU(nil, 1, PDU{1, []byte{2, 0xC3, 0x01}}), nil, 0},
		{"crc", rd, bad(AppendADU(nil, 1, PDU{3, []byte{2, 0, 140}})), ErrCRC, 0},
		{"wrong slave id", rd, AppendADU(nil, 2, PDU{3, []byte{2, 0, 140}}), ErrBadResponse, 0},
		{"wrong function", rd, AppendADU(nil, 1, PDU{4, []byte{2, 0, 140}}), ErrBadResponse, 0},
		{"wrong byte count", rd, AppendADU(nil, 1, PDU{3, []byte{4, 0, 140, 0, 141}}), ErrBadResponse, 0},
		{"bits: byte count of 16", coils, AppendADU(nil, 1, PDU{1, []byte{1, 0xC3}}), ErrBadResponse, 0},
		{"write echo", wr, AppendADU(nil, 1, PDU{6, []byte{0, 5, 0, 7}}), nil, 0},
		{"write echo: address", wr, AppendADU(nil, 1, PDU{6, []byte{0, 6, 0, 7}}), ErrBadResponse, 0},
		{"write echo: value", wr, AppendADU(nil, 1, PDU{6, []byte{0, 5, 0, 8}}), ErrBadResponse, 0},
		{"coil echo: value", wc, AppendADU(nil, 1, PDU{5, []byte{0, 3, 0, 0}}), ErrBadResponse, 0},
		{"multiple echo", wm, AppendADU(nil, 1, PDU{16, []byte{0, 10, 0, 2}}), nil, 0},
		{"multiple echo: quantity", wm, AppendADU(nil, 1, PDU{16, []byte{0, 10, 0, 1}}), ErrBadResponse, 0},
		{"exception", rd, AppendADU(nil, 1, PDU{0x83, []byte{6}}), &ExceptionError{Function: 3, Code: 6}, 0},
		{"short", rd, []byte{1, 3, 2}, ErrBadResponse, 0},
	} {
		resp, err := CheckADU(1, tc.req, tc.adu)
		var ex *ExceptionError
		switch {
		case tc.want == nil:
			if err != nil {
				t.Errorf("%s: got %v, want accepted", tc.name, err)
			} else if tc.value != 0 && Registers(resp)[0] != tc.value {
				t.Errorf("%s: got %v, want %d", tc.name, Registers(resp), tc.value)
			}
		case errors.As(tc.want, &ex):
			var got *ExceptionError
			if !errors.As(err, &got) || *got != *ex {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		case !errors.Is(err, tc.want):
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
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
		a.Reset(1, req)
		adu, _, err := a.Feed(frame)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := CheckADU(1, req, adu)
		if err != nil {
			b.Fatal(err)
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
