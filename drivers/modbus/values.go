package modbus

import (
	"fmt"
	"math"
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
)

// Words is the number of registers a value of type t takes.
func (t DataType) Words() int {
	switch t {
	case TypeInt32, TypeUint32, TypeFloat32:
		return 2
	}
	return 1
}

// ParseDataType checks a type name.
func ParseDataType(s string) (DataType, error) {
	switch t := DataType(s); t {
	case TypeBool, TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeFloat32:
		return t, nil
	}
	return "", fmt.Errorf("unknown type %q (want int16, uint16, int32, uint32, float32 or bool)", s)
}

// WordOrder is the order of the two registers of a 32-bit value. Within a
// register the bytes are always big-endian, as Modbus sends them.
type WordOrder string

const (
	// WordsBig puts the high word first (ABCD): the Modbus convention.
	WordsBig WordOrder = "big"
	// WordsLittle puts the low word first (CDAB, "word swap"), as many
	// meters and PLCs do.
	WordsLittle WordOrder = "little"
)

// ParseWordOrder checks a word order name; "" is big.
func ParseWordOrder(s string) (WordOrder, error) {
	switch s {
	case "", "big":
		return WordsBig, nil
	case "little":
		return WordsLittle, nil
	}
	return "", fmt.Errorf("unknown word order %q (want big or little)", s)
}

// Decode returns the value of type t held in regs[0:t.Words()].
func Decode(regs []uint16, t DataType, o WordOrder) (float64, error) {
	if len(regs) < t.Words() {
		return 0, fmt.Errorf("%s needs %d registers, have %d", t, t.Words(), len(regs))
	}
	var u32 uint32
	if t.Words() == 2 {
		hi, lo := regs[0], regs[1]
		if o == WordsLittle {
			hi, lo = lo, hi
		}
		u32 = uint32(hi)<<16 | uint32(lo)
	}
	switch t {
	case TypeInt16:
		return float64(int16(regs[0])), nil
	case TypeUint16:
		return float64(regs[0]), nil
	case TypeBool:
		if regs[0] != 0 {
			return 1, nil
		}
		return 0, nil
	case TypeInt32:
		return float64(int32(u32)), nil
	case TypeUint32:
		return float64(u32), nil
	case TypeFloat32:
		return float64(math.Float32frombits(u32)), nil
	}
	return 0, fmt.Errorf("unknown type %q", t)
}

// Encode is Decode's inverse: the registers holding v as type t. Integer
// types round v and refuse values out of range.
func Encode(v float64, t DataType, o WordOrder) ([]uint16, error) {
	var u32 uint32
	r := math.Round(v)
	switch t {
	case TypeInt16:
		if r < math.MinInt16 || r > math.MaxInt16 {
			return nil, fmt.Errorf("%v out of range for int16", v)
		}
		return []uint16{uint16(int16(r))}, nil
	case TypeUint16, TypeBool:
		if r < 0 || r > math.MaxUint16 {
			return nil, fmt.Errorf("%v out of range for %s", v, t)
		}
		return []uint16{uint16(r)}, nil
	case TypeInt32:
		if r < math.MinInt32 || r > math.MaxInt32 {
			return nil, fmt.Errorf("%v out of range for int32", v)
		}
		u32 = uint32(int32(r))
	case TypeUint32:
		if r < 0 || r > math.MaxUint32 {
			return nil, fmt.Errorf("%v out of range for uint32", v)
		}
		u32 = uint32(r)
	case TypeFloat32:
		u32 = math.Float32bits(float32(v))
	default:
		return nil, fmt.Errorf("unknown type %q", t)
	}
	hi, lo := uint16(u32>>16), uint16(u32)
	if o == WordsLittle {
		return []uint16{lo, hi}, nil
	}
	return []uint16{hi, lo}, nil
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
	return "", fmt.Errorf("unknown table %q (want coil, discrete, holding or input)", s)
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
