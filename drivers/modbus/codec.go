package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The RTU codec. An ADU (application data unit) on the wire is
//
//	slave(1) | function(1) | data(n) | CRC-16/Modbus (2, low byte first)
//
// and the PDU is function + data. Every response length is known from the
// request alone (ExpectLen), so a reader knows where the answer ends, and
// can tell from its first three bytes whether it answers the request at all.

// Function codes this master speaks.
const (
	FuncReadCoils              byte = 1
	FuncReadDiscreteInputs     byte = 2
	FuncReadHoldingRegisters   byte = 3
	FuncReadInputRegisters     byte = 4
	FuncWriteSingleCoil        byte = 5
	FuncWriteSingleRegister    byte = 6
	FuncWriteMultipleCoils     byte = 15
	FuncWriteMultipleRegisters byte = 16
)

// Protocol limits (Modbus Application Protocol v1.1b3, section 6).
const (
	MaxReadBits       = 2000
	MaxReadRegisters  = 125
	MaxWriteBits      = 1968
	MaxWriteRegisters = 123
	MaxADU            = 256
)

// Errors of a transaction, checked with errors.Is.
var (
	// ErrCRC: a response arrived whole but its CRC did not match.
	ErrCRC = errors.New("modbus: CRC error")
	// ErrTimeout: no byte of a response within the timeout.
	ErrTimeout = errors.New("modbus: timeout")
	// ErrLate: a timeout whose answer came after all, while the master
	// waited out the line, and was discarded: the slave is slower than its
	// timeout. errors.Is(ErrLate, ErrTimeout) holds.
	ErrLate = fmt.Errorf("%w: late answer", ErrTimeout)
	// ErrShortFrame: a response began but stopped before its length.
	ErrShortFrame = errors.New("modbus: short frame")
	// ErrBadResponse: a response that does not answer the request: another
	// slave id, function code, byte count or write echo, an altered echo of
	// the request on an echoing line, or a second frame on its heels. It is
	// discarded, never decoded ("mismatched" in the counters).
	ErrBadResponse = errors.New("modbus: mismatched response")
	// ErrNoise: the line never fell silent long enough to send a request
	// (a babbling device, or another master on the bus).
	ErrNoise = errors.New("modbus: line never silent")
	// ErrPort: the serial port failed or vanished (USB adapter unplugged),
	// or the TCP connection could not be made or was lost (ErrConnect,
	// ErrDisconnected).
	ErrPort = errors.New("modbus: port error")
)

// Exception codes (section 7).
const (
	ExIllegalFunction        byte = 1
	ExIllegalDataAddress     byte = 2
	ExIllegalDataValue       byte = 3
	ExSlaveDeviceFailure     byte = 4
	ExAcknowledge            byte = 5
	ExSlaveDeviceBusy        byte = 6
	ExNegativeAcknowledge    byte = 7
	ExMemoryParityError      byte = 8
	ExGatewayPathUnavailable byte = 10
	ExGatewayTargetFailed    byte = 11
)

var exceptionNames = map[byte]string{
	ExIllegalFunction:        "ILLEGAL FUNCTION",
	ExIllegalDataAddress:     "ILLEGAL DATA ADDRESS",
	ExIllegalDataValue:       "ILLEGAL DATA VALUE",
	ExSlaveDeviceFailure:     "SLAVE DEVICE FAILURE",
	ExAcknowledge:            "ACKNOWLEDGE",
	ExSlaveDeviceBusy:        "SLAVE DEVICE BUSY",
	ExNegativeAcknowledge:    "NEGATIVE ACKNOWLEDGE",
	ExMemoryParityError:      "MEMORY PARITY ERROR",
	ExGatewayPathUnavailable: "GATEWAY PATH UNAVAILABLE",
	ExGatewayTargetFailed:    "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}

// ExceptionName returns the spec's name of an exception code.
func ExceptionName(code byte) string {
	if s, ok := exceptionNames[code]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN EXCEPTION %d", code)
}

// ExceptionError is a slave's exception response; match it with errors.As.
type ExceptionError struct {
	Function byte // the request's function code
	Code     byte
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: exception %d (%s) to function %d", e.Code, ExceptionName(e.Code), e.Function)
}

// PDU is a protocol data unit: a function code and its data.
type PDU struct {
	Function byte
	Data     []byte
}

// CRC computes the CRC-16/Modbus of b (poly 0xA001 reflected, init 0xFFFF).
func CRC(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^x]
	}
	return crc
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// AppendADU appends the RTU frame of p for slave to dst.
func AppendADU(dst []byte, slave byte, p PDU) []byte {
	start := len(dst)
	dst = append(dst, slave, p.Function)
	dst = append(dst, p.Data...)
	return binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
}

// DecodeADU checks a whole frame's CRC and splits it. The PDU's data
// aliases adu.
func DecodeADU(adu []byte) (slave byte, p PDU, err error) {
	if len(adu) < 4 {
		return 0, PDU{}, fmt.Errorf("%w: frame of %d bytes", ErrBadResponse, len(adu))
	}
	n := len(adu) - 2
	if got, want := binary.LittleEndian.Uint16(adu[n:]), CRC(adu[:n]); got != want {
		return 0, PDU{}, fmt.Errorf("%w: got %04x, want %04x", ErrCRC, got, want)
	}
	return adu[0], PDU{Function: adu[1], Data: adu[2:n]}, nil
}

// ReadRequest builds a read of qty coils, discrete inputs, holding or input
// registers (functions 1 to 4) starting at addr.
func ReadRequest(fn byte, addr, qty uint16) (PDU, error) {
	limit := uint16(MaxReadRegisters)
	switch fn {
	case FuncReadCoils, FuncReadDiscreteInputs:
		limit = MaxReadBits
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
	default:
		return PDU{}, fmt.Errorf("modbus: function %d is not a read", fn)
	}
	if qty == 0 || qty > limit {
		return PDU{}, fmt.Errorf("modbus: read quantity %d out of range 1..%d", qty, limit)
	}
	if int(addr)+int(qty) > 0x10000 {
		return PDU{}, fmt.Errorf("modbus: read %d from address %d passes 65535", qty, addr)
	}
	return PDU{fn, binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), qty)}, nil
}

// WriteSingleCoil builds function 5.
func WriteSingleCoil(addr uint16, on bool) PDU {
	v := uint16(0)
	if on {
		v = 0xFF00
	}
	return PDU{FuncWriteSingleCoil, binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), v)}
}

// WriteSingleRegister builds function 6.
func WriteSingleRegister(addr, v uint16) PDU {
	return PDU{FuncWriteSingleRegister, binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), v)}
}

// WriteMultipleCoils builds function 15.
func WriteMultipleCoils(addr uint16, bits []bool) (PDU, error) {
	if len(bits) == 0 || len(bits) > MaxWriteBits || int(addr)+len(bits) > 0x10000 {
		return PDU{}, fmt.Errorf("modbus: write of %d coils at %d out of range", len(bits), addr)
	}
	d := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), uint16(len(bits)))
	d = append(d, byte((len(bits)+7)/8))
	d = append(d, PackBits(bits)...)
	return PDU{FuncWriteMultipleCoils, d}, nil
}

// WriteMultipleRegisters builds function 16.
func WriteMultipleRegisters(addr uint16, vals []uint16) (PDU, error) {
	if len(vals) == 0 || len(vals) > MaxWriteRegisters || int(addr)+len(vals) > 0x10000 {
		return PDU{}, fmt.Errorf("modbus: write of %d registers at %d out of range", len(vals), addr)
	}
	d := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), uint16(len(vals)))
	d = append(d, byte(2*len(vals)))
	for _, v := range vals {
		d = binary.BigEndian.AppendUint16(d, v)
	}
	return PDU{FuncWriteMultipleRegisters, d}, nil
}

// PackBits packs bits LSB first, as coils travel.
func PackBits(bits []bool) []byte {
	b := make([]byte, (len(bits)+7)/8)
	for i, on := range bits {
		if on {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// ResponseLen returns the whole length of the response ADU to a request
// with function fn, judging from the first bytes head of that response. It
// returns 0 while it needs more bytes (at most 3 are ever needed).
func ResponseLen(fn byte, head []byte) (int, error) {
	if len(head) < 2 {
		return 0, nil
	}
	if head[1] == fn|0x80 {
		return 5, nil // slave, function|0x80, code, CRC
	}
	if head[1] != fn {
		return 0, fmt.Errorf("%w: function %d in answer to %d", ErrBadResponse, head[1], fn)
	}
	switch fn {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(head) < 3 {
			return 0, nil
		}
		return 5 + int(head[2]), nil
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return 8, nil
	}
	return 0, fmt.Errorf("%w: unsupported function %d", ErrBadResponse, fn)
}

// ExpectLen is the length of the normal (not exception) response ADU to
// req: 5 + the byte count for reads, 8 for writes.
func ExpectLen(req PDU) (int, error) {
	if len(req.Data) < 4 {
		return 0, fmt.Errorf("modbus: request of function %d has %d data bytes", req.Function, len(req.Data))
	}
	qty := int(binary.BigEndian.Uint16(req.Data[2:]))
	switch req.Function {
	case FuncReadCoils, FuncReadDiscreteInputs:
		return 5 + (qty+7)/8, nil
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		return 5 + 2*qty, nil
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return 8, nil
	}
	return 0, fmt.Errorf("%w: unsupported function %d", ErrBadResponse, req.Function)
}

// CheckADU checks a whole response frame against the request sent to
// slave: its CRC (ErrCRC), then slave id, function code, byte count and
// write echo (ErrBadResponse). An exception answer is an *ExceptionError.
// Only a frame that passes is ever decoded. The PDU's data aliases adu.
func CheckADU(slave byte, req PDU, adu []byte) (PDU, error) {
	from, resp, err := DecodeADU(adu)
	if err != nil {
		return PDU{}, err
	}
	if from != slave {
		return PDU{}, fmt.Errorf("%w: answer from slave %d to a request for slave %d", ErrBadResponse, from, slave)
	}
	if err := CheckResponse(req, resp); err != nil {
		return PDU{}, err
	}
	return resp, nil
}

// CheckResponse checks that resp answers req: an exception becomes an
// *ExceptionError, a read's byte count must fit its quantity, a write's
// echo must match.
func CheckResponse(req, resp PDU) error {
	if resp.Function == req.Function|0x80 {
		if len(resp.Data) != 1 {
			return fmt.Errorf("%w: exception with %d data bytes", ErrBadResponse, len(resp.Data))
		}
		return &ExceptionError{Function: req.Function, Code: resp.Data[0]}
	}
	if resp.Function != req.Function {
		return fmt.Errorf("%w: function %d in answer to %d", ErrBadResponse, resp.Function, req.Function)
	}
	if len(req.Data) < 4 {
		return fmt.Errorf("modbus: request of function %d has %d data bytes", req.Function, len(req.Data))
	}
	qty := int(binary.BigEndian.Uint16(req.Data[2:]))
	switch req.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		want := 2 * qty
		if req.Function <= FuncReadDiscreteInputs {
			want = (qty + 7) / 8
		}
		if len(resp.Data) < 1 || int(resp.Data[0]) != want || len(resp.Data) != 1+want {
			return fmt.Errorf("%w: %d data bytes for %d items of function %d", ErrBadResponse, len(resp.Data)-1, qty, req.Function)
		}
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		// The echo is address and quantity (15, 16) or address and value
		// (5, 6): the first four data bytes of the request.
		if len(resp.Data) != 4 || string(resp.Data) != string(req.Data[:4]) {
			return fmt.Errorf("%w: write echo % x does not match request % x", ErrBadResponse, resp.Data, req.Data[:min(4, len(req.Data))])
		}
	default:
		return fmt.Errorf("%w: unsupported function %d", ErrBadResponse, req.Function)
	}
	return nil
}

// Registers decodes a checked response to function 3 or 4.
func Registers(resp PDU) []uint16 {
	if len(resp.Data) < 1 {
		return nil
	}
	d := resp.Data[1:]
	out := make([]uint16, len(d)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(d[2*i:])
	}
	return out
}

// Bits decodes qty bits of a checked response to function 1 or 2.
func Bits(resp PDU, qty int) []bool {
	if len(resp.Data) < 1 {
		return nil
	}
	d := resp.Data[1:]
	qty = min(qty, 8*len(d))
	out := make([]bool, qty)
	for i := range out {
		out[i] = d[i/8]&(1<<(i%8)) != 0
	}
	return out
}

// RequestLen is ResponseLen for the slave's side: the length of a request
// ADU from its first bytes (0: need more). It serves test slaves.
func RequestLen(head []byte) (int, error) {
	if len(head) < 2 {
		return 0, nil
	}
	switch head[1] {
	case 1, 2, 3, 4, 5, 6:
		return 8, nil
	case 15, 16:
		if len(head) < 7 {
			return 0, nil
		}
		return 9 + int(head[6]), nil
	}
	return 0, fmt.Errorf("%w: unsupported function %d", ErrBadResponse, head[1])
}
