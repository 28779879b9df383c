package modbus

import (
	"math"
	"slices"
	"testing"
)

// TestOrdersGolden: every type in every order, against register images
// worked out by hand from the value's bytes A B C D (E F G H).
func TestOrdersGolden(t *testing.T) {
	for _, tc := range []struct {
		typ  DataType
		o    WordOrder
		regs []uint16
		want string // Value.String
	}{
		{TypeUint32, OrderABCD, []uint16{0x1122, 0x3344}, "287454020"},
		{TypeUint32, OrderCDAB, []uint16{0x3344, 0x1122}, "287454020"},
		{TypeUint32, OrderBADC, []uint16{0x2211, 0x4433}, "287454020"},
		{TypeUint32, OrderDCBA, []uint16{0x4433, 0x2211}, "287454020"},
		{TypeInt32, OrderABCD, []uint16{0xFFFE, 0x1DC0}, "-123456"},
		{TypeInt32, OrderCDAB, []uint16{0x1DC0, 0xFFFE}, "-123456"},
		{TypeInt32, OrderBADC, []uint16{0xFEFF, 0xC01D}, "-123456"},
		{TypeInt32, OrderDCBA, []uint16{0xC01D, 0xFEFF}, "-123456"},
		{TypeFloat32, OrderABCD, []uint16{0x41AC, 0x0000}, "21.5"},
		{TypeFloat32, OrderCDAB, []uint16{0x0000, 0x41AC}, "21.5"},
		{TypeFloat32, OrderBADC, []uint16{0xAC41, 0x0000}, "21.5"},
		{TypeFloat32, OrderDCBA, []uint16{0x0000, 0xAC41}, "21.5"},
		{TypeUint64, OrderABCD, []uint16{0x0102, 0x0304, 0x0506, 0x0708}, "72623859790382856"},
		{TypeUint64, OrderCDAB, []uint16{0x0708, 0x0506, 0x0304, 0x0102}, "72623859790382856"},
		{TypeUint64, OrderBADC, []uint16{0x0201, 0x0403, 0x0605, 0x0807}, "72623859790382856"},
		{TypeUint64, OrderDCBA, []uint16{0x0807, 0x0605, 0x0403, 0x0201}, "72623859790382856"},
		{TypeUint64, OrderABCD, []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}, "18446744073709551615"},
		{TypeInt64, OrderABCD, []uint16{0xFFFF, 0xFFFF, 0xFFFE, 0x1DC0}, "-123456"},
		{TypeInt64, OrderCDAB, []uint16{0x1DC0, 0xFFFE, 0xFFFF, 0xFFFF}, "-123456"},
		{TypeInt64, OrderBADC, []uint16{0xFFFF, 0xFFFF, 0xFEFF, 0xC01D}, "-123456"},
		{TypeInt64, OrderDCBA, []uint16{0xC01D, 0xFEFF, 0xFFFF, 0xFFFF}, "-123456"},
		{TypeInt64, OrderABCD, []uint16{0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF}, "9223372036854775807"},
		{TypeFloat64, OrderABCD, []uint16{0x4035, 0x8000, 0, 0}, "21.5"},
		{TypeFloat64, OrderCDAB, []uint16{0, 0, 0x8000, 0x4035}, "21.5"},
		{TypeFloat64, OrderBADC, []uint16{0x3540, 0x0080, 0, 0}, "21.5"},
		{TypeFloat64, OrderDCBA, []uint16{0, 0, 0x0080, 0x3540}, "21.5"},
		{TypeInt16, OrderABCD, []uint16{0xFF85}, "-123"},
		{TypeInt16, OrderBADC, []uint16{0x85FF}, "-123"},
		{TypeUint16, OrderDCBA, []uint16{0xD204}, "1234"},
		{TypeString, OrderABCD, []uint16{0x4453, 0x5A31, 0x3233, 0x0000}, `"DSZ123"`},
		{TypeString, OrderBADC, []uint16{0x5344, 0x315A, 0x3332, 0x0000}, `"DSZ123"`},
		{TypeString, OrderCDAB, []uint16{0x4453, 0x5A31, 0x3233, 0x0000}, `"DSZ123"`}, // text keeps its register order
		{TypeString, OrderABCD, []uint16{0x4142, 0x4300, 0x4445}, `"ABC"`},            // NUL-trimmed at the first NUL
		{TypeString, OrderABCD, []uint16{0x4142, 0x2020}, `"AB"`},                     // space-padded
	} {
		v, err := DecodeValue(tc.regs, tc.typ, tc.o)
		if err != nil || v.String() != tc.want {
			t.Errorf("DecodeValue(%04x, %s, %s): got %v, %v; want %s", tc.regs, tc.typ, tc.o, v, err, tc.want)
			continue
		}
		if tc.typ == TypeString || tc.want == "18446744073709551615" || tc.want == "9223372036854775807" || tc.want == "72623859790382856" {
			continue // not exact as a float64
		}
		regs, err := Encode(v.Float(), tc.typ, tc.o)
		if err != nil || !slices.Equal(regs, tc.regs) {
			t.Errorf("Encode(%v, %s, %s): got %04x, %v; want %04x", v.Float(), tc.typ, tc.o, regs, err, tc.regs)
		}
	}
}

func TestParseWordOrder(t *testing.T) {
	for in, want := range map[string]WordOrder{"": OrderABCD, "big": OrderABCD, "abcd": OrderABCD, "little": OrderCDAB,
		"CDAB": OrderCDAB, "badc": OrderBADC, "DCBA": OrderDCBA} {
		if got, err := ParseWordOrder(in); err != nil || got != want {
			t.Errorf("ParseWordOrder(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseWordOrder("ACBD"); err == nil {
		t.Error("ParseWordOrder(ACBD): no error")
	}
}

func TestFloat32Shortest(t *testing.T) {
	regs, _ := Encode(22.2, TypeFloat32, OrderABCD)
	if v, _ := Decode(regs, TypeFloat32, OrderABCD); v != 22.2 {
		t.Errorf("float32 22.2: got %v, want 22.2", v)
	}
	if v, _ := Decode([]uint16{0x7F80, 0}, TypeFloat32, OrderABCD); !math.IsInf(v, 1) {
		t.Errorf("float32 +Inf: got %v", v)
	}
}

func TestRoundAndDecimals(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		d    int
		want float64
	}{
		{222 * 0.1, 1, 22.2}, {222 * 0.1, -1, 222 * 0.1}, {1.005, 2, 1}, {-7 * 0.1, 1, -0.7},
		{12345 * 0.01, 2, 123.45}, {2.5, 0, 2}, {3.5, 0, 4}, {1e300, 2, 1e300}, {math.Inf(-1), 1, math.Inf(-1)},
	} {
		// 1.005 is 1.00499999999999989... in binary: the decimal text rounds it down.
		if got := Round(tc.v, tc.d); got != tc.want {
			t.Errorf("Round(%v, %d): got %v, want %v", tc.v, tc.d, got, tc.want)
		}
	}
	for x, want := range map[float64]int{0.1: 1, 0.01: 2, 0.025: 3, 1: 0, 10: 0, -0.5: 1, 0.001: 3, 1e-7: 7} {
		if got := Decimals(x); got != want {
			t.Errorf("Decimals(%v): got %d, want %d", x, got, want)
		}
	}
}

func TestBitField(t *testing.T) {
	for _, tc := range []struct {
		reg    uint16
		lo, hi int
		want   uint64
	}{{0x8421, 0, 0, 1}, {0x8421, 1, 1, 0}, {0x8421, 4, 7, 2}, {0x8421, 12, 15, 8}, {0xFFFF, 0, 15, 0xFFFF}, {0x00F0, 4, 5, 3}} {
		if got := BitField(tc.reg, tc.lo, tc.hi); got != tc.want {
			t.Errorf("BitField(%04x, %d, %d): got %d, want %d", tc.reg, tc.lo, tc.hi, got, tc.want)
		}
	}
}
