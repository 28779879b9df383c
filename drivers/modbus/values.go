package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// DataType is how a point's registers are read.
type DataType string

// Data types.
const (
	TypeBool    DataType = "bool" // a coil, a discrete input, or one bit of a register
	TypeInt16   DataType = "int16"
	TypeUint16  DataType = "uint16"
	TypeInt32   DataType = "int32"
	TypeUint32  DataType = "uint32"
	TypeFloat32 DataType = "float32"
	TypeInt64   DataType = "int64"
	TypeUint64  DataType = "uint64"
	TypeFloat64 DataType = "float64"
	// TypeString is text in N registers, two characters a register,
	// trailing NULs (and spaces) trimmed.
	TypeString DataType = "string"
)

// Words is the number of registers a value of type t takes; 0 for a
// string, whose length is configured.
func (t DataType) Words() int {
	switch t {
	case TypeInt32, TypeUint32, TypeFloat32:
		return 2
	case TypeInt64, TypeUint64, TypeFloat64:
		return 4
	case TypeString:
		return 0
	}
	return 1
}

// IsInteger reports whether values of t are whole numbers.
func (t DataType) IsInteger() bool {
	switch t {
	case TypeFloat32, TypeFloat64, TypeString:
		return false
	}
	return true
}

// ParseDataType checks a type name.
func ParseDataType(s string) (DataType, error) {
	switch t := DataType(s); t {
	case TypeBool, TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeFloat32, TypeInt64, TypeUint64, TypeFloat64, TypeString:
		return t, nil
	}
	return "", edge.Msgf("unknown type %q (want int16, uint16, int32, uint32, float32, int64, uint64, float64, string or bool)", s)
}

// WordOrder is the order of the bytes of a value of more than one
// register, named by where the value's bytes A (most significant), B, C, D
// travel: ABCD is Modbus's own big-endian order; CDAB swaps the words
// ("word swap", many meters and PLCs); BADC swaps the bytes within each
// register ("byte swap"); DCBA is fully little-endian. For 64-bit values
// the same rule applies to four registers (CDAB: the last register first).
// For strings only the byte order within a register counts: ABCD puts the
// first character in the high byte, BADC in the low byte.
type WordOrder string

// Word and byte orders.
const (
	OrderABCD WordOrder = "ABCD"
	OrderCDAB WordOrder = "CDAB"
	OrderBADC WordOrder = "BADC"
	OrderDCBA WordOrder = "DCBA"
	// WordsBig puts the high word first: ABCD, the Modbus convention.
	WordsBig = OrderABCD
	// WordsLittle puts the low word first: CDAB.
	WordsLittle = OrderCDAB
)

// ParseWordOrder checks an order name, in any case: ABCD, CDAB, BADC,
// DCBA, or the older big (ABCD) and little (CDAB); "" is ABCD.
func ParseWordOrder(s string) (WordOrder, error) {
	switch strings.ToUpper(s) {
	case "", "BIG", "ABCD":
		return OrderABCD, nil
	case "LITTLE", "CDAB":
		return OrderCDAB, nil
	case "BADC":
		return OrderBADC, nil
	case "DCBA":
		return OrderDCBA, nil
	}
	return "", edge.Msgf("unknown word order %q (want ABCD, CDAB, BADC or DCBA; big is ABCD, little is CDAB)", s)
}

func (o WordOrder) wordSwap() bool { return o == OrderCDAB || o == OrderDCBA }
func (o WordOrder) byteSwap() bool { return o == OrderBADC || o == OrderDCBA }

// valueBytes returns the bytes of regs in the value's own order, most
// significant first (ABCD...). The transform is its own inverse.
func (o WordOrder) valueBytes(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		j := i
		if o.wordSwap() {
			j = len(regs) - 1 - i
		}
		if o.byteSwap() {
			r = r<<8 | r>>8
		}
		binary.BigEndian.PutUint16(b[2*j:], r)
	}
	return b
}

// registers is valueBytes' inverse.
func (o WordOrder) registers(b []byte) []uint16 {
	regs := make([]uint16, len(b)/2)
	for i := range regs {
		j := i
		if o.wordSwap() {
			j = len(regs) - 1 - i
		}
		r := binary.BigEndian.Uint16(b[2*j:])
		if o.byteSwap() {
			r = r<<8 | r>>8
		}
		regs[i] = r
	}
	return regs
}

// Value is a decoded register value, before scale and offset: exact
// integers stay exact (an int64 counter above 2^53 too).
type Value struct {
	Type DataType
	Int  int64   // int16, int32, int64
	Uint uint64  // uint16, uint32, uint64, bool, bit fields
	F    float64 // float32 (widened), float64
	Str  string  // string
}

// Float is the value as a float64; NaN for a string. A float32 becomes
// the float64 of its shortest decimal form (22.2, not 22.200000762939453).
func (v Value) Float() float64 {
	switch v.Type {
	case TypeInt16, TypeInt32, TypeInt64:
		return float64(v.Int)
	case TypeFloat32:
		f, err := strconv.ParseFloat(strconv.FormatFloat(v.F, 'g', -1, 32), 64)
		if err != nil { // Inf and NaN
			return v.F
		}
		return f
	case TypeFloat64:
		return v.F
	case TypeString:
		return math.NaN()
	}
	return float64(v.Uint)
}

// String formats the value: integers as integers (3000000000, not 3e+09),
// floats in their shortest form, strings quoted.
func (v Value) String() string {
	switch v.Type {
	case TypeInt16, TypeInt32, TypeInt64:
		return strconv.FormatInt(v.Int, 10)
	case TypeFloat32:
		return strconv.FormatFloat(v.F, 'g', -1, 32)
	case TypeFloat64:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case TypeString:
		return strconv.Quote(v.Str)
	}
	return strconv.FormatUint(v.Uint, 10)
}

// DecodeValue returns the value of type t held in regs: the first
// t.Words() registers, or all of them for a string.
func DecodeValue(regs []uint16, t DataType, o WordOrder) (Value, error) {
	n := t.Words()
	if t == TypeString {
		n = len(regs)
	}
	if len(regs) < n || n == 0 {
		return Value{}, fmt.Errorf("%s needs %d registers, have %d", t, max(n, 1), len(regs))
	}
	v := Value{Type: t}
	if t == TypeString {
		// Text travels in register order; only the bytes within a
		// register may be swapped.
		b := o.byteSwapOnly().valueBytes(regs[:n])
		if i := strings.IndexByte(string(b), 0); i >= 0 {
			b = b[:i]
		}
		v.Str = strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), " ")
		return v, nil
	}
	b := o.valueBytes(regs[:n])
	switch t {
	case TypeInt16:
		v.Int = int64(int16(binary.BigEndian.Uint16(b)))
	case TypeUint16:
		v.Uint = uint64(binary.BigEndian.Uint16(b))
	case TypeBool:
		if regs[0] != 0 {
			v.Uint = 1
		}
	case TypeInt32:
		v.Int = int64(int32(binary.BigEndian.Uint32(b)))
	case TypeUint32:
		v.Uint = uint64(binary.BigEndian.Uint32(b))
	case TypeFloat32:
		v.F = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case TypeInt64:
		v.Int = int64(binary.BigEndian.Uint64(b))
	case TypeUint64:
		v.Uint = binary.BigEndian.Uint64(b)
	case TypeFloat64:
		v.F = math.Float64frombits(binary.BigEndian.Uint64(b))
	default:
		return Value{}, fmt.Errorf("unknown type %q", t)
	}
	return v, nil
}

// byteSwapOnly is o without its word swap.
func (o WordOrder) byteSwapOnly() WordOrder {
	if o.byteSwap() {
		return OrderBADC
	}
	return OrderABCD
}

// Decode returns the value of type t held in regs[0:t.Words()] as a
// float64 (see Value.Float).
func Decode(regs []uint16, t DataType, o WordOrder) (float64, error) {
	v, err := DecodeValue(regs, t, o)
	if err != nil {
		return 0, err
	}
	return v.Float(), nil
}

// Encode is Decode's inverse: the registers holding v as type t. Integer
// types round v and refuse values out of range.
func Encode(v float64, t DataType, o WordOrder) ([]uint16, error) {
	r := math.Round(v)
	var b []byte
	switch t {
	case TypeInt16:
		if r < math.MinInt16 || r > math.MaxInt16 {
			return nil, fmt.Errorf("%v out of range for int16", v)
		}
		b = binary.BigEndian.AppendUint16(nil, uint16(int16(r)))
	case TypeUint16, TypeBool:
		if r < 0 || r > math.MaxUint16 {
			return nil, fmt.Errorf("%v out of range for %s", v, t)
		}
		b = binary.BigEndian.AppendUint16(nil, uint16(r))
	case TypeInt32:
		if r < math.MinInt32 || r > math.MaxInt32 {
			return nil, fmt.Errorf("%v out of range for int32", v)
		}
		b = binary.BigEndian.AppendUint32(nil, uint32(int32(r)))
	case TypeUint32:
		if r < 0 || r > math.MaxUint32 {
			return nil, fmt.Errorf("%v out of range for uint32", v)
		}
		b = binary.BigEndian.AppendUint32(nil, uint32(r))
	case TypeFloat32:
		b = binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v)))
	case TypeInt64:
		if r < math.MinInt64 || r >= math.MaxInt64 {
			return nil, fmt.Errorf("%v out of range for int64", v)
		}
		b = binary.BigEndian.AppendUint64(nil, uint64(int64(r)))
	case TypeUint64:
		if r < 0 || r >= math.MaxUint64 {
			return nil, fmt.Errorf("%v out of range for uint64", v)
		}
		b = binary.BigEndian.AppendUint64(nil, uint64(r))
	case TypeFloat64:
		b = binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
	default:
		return nil, fmt.Errorf("cannot encode type %q", t)
	}
	return o.registers(b), nil
}

// BitField is bits lo..hi (0 = least significant) of a register.
func BitField(reg uint16, lo, hi int) uint64 {
	return uint64(reg>>lo) & (1<<(hi-lo+1) - 1)
}

// Round rounds v to decimals places after the point, as the decimal text
// would (222 × 0.1 is 22.2, not 22.200000000000003); decimals < 0 leaves
// v as it is.
func Round(v float64, decimals int) float64 {
	if decimals < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'f', decimals, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// Decimals is the number of decimal places of x's shortest form: 0.1 has
// 1, 0.025 has 3, 10 has 0.
func Decimals(x float64) int {
	s := strconv.FormatFloat(math.Abs(x), 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// Table is one of the four Modbus data tables.
type Table string

// Tables.
const (
	Coil     Table = "coil"
	Discrete Table = "discrete"
	Holding  Table = "holding"
	Input    Table = "input"
)

// ParseTable checks a table name.
func ParseTable(s string) (Table, error) {
	switch t := Table(s); t {
	case Coil, Discrete, Holding, Input:
		return t, nil
	}
	return "", edge.Msgf("unknown table %q (want coil, discrete, holding or input)", s)
}

// ReadFunction is the function code that reads the table.
func (t Table) ReadFunction() byte {
	switch t {
	case Coil:
		return FuncReadCoils
	case Discrete:
		return FuncReadDiscreteInputs
	case Holding:
		return FuncReadHoldingRegisters
	}
	return FuncReadInputRegisters
}

// IsBits reports whether the table holds single bits.
func (t Table) IsBits() bool { return t == Coil || t == Discrete }
