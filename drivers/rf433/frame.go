package rf433

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// Format is the frame layout of a UART decoder board: Header, Before bytes
// (timings the board measured), CodeBytes bytes of received code, After
// bytes (the oscillator byte of the common boards), Footer. Every frame of
// a format has the same length, which is what lets the parser resync on
// garbage and refuse a shifted frame.
type Format struct {
	Header    []byte
	Before    int
	CodeBytes int
	After     int
	Footer    []byte
	// KeyBits is how many low bits of the code are the key (data) bits;
	// the rest is the address. EV1527: 4 (20-bit address + 4 data bits).
	KeyBits int
	// Baud is the board's bit rate.
	Baud int
}

// The formats the boards on the market print.
var (
	// FormatEV1527 is the common decoder board (RXB6/SYN480R receiver with
	// an STC decoder MCU): FD, three code bytes, one oscillator byte, DF,
	// at 9600 8N1, several times per trigger.
	FormatEV1527 = Format{Header: []byte{0xFD}, CodeBytes: 3, After: 1, Footer: []byte{0xDF}, KeyBits: 4, Baud: 9600}
	// FormatSonoff is the Sonoff RF Bridge's "received" frame: AA A4, then
	// Tsyn, Tlow, Thigh (two bytes each), three data bytes, 55; 19200 8N1.
	FormatSonoff = Format{Header: []byte{0xAA, 0xA4}, Before: 6, CodeBytes: 3, Footer: []byte{0x55}, KeyBits: 4, Baud: 19200}
)

// Len is the length of one frame.
func (f *Format) Len() int {
	return len(f.Header) + f.Before + f.CodeBytes + f.After + len(f.Footer)
}

// MaxFrame bounds a configured frame: more than this is not a decoder board.
const MaxFrame = 64

func (f *Format) validate() error {
	switch {
	case len(f.Header) == 0:
		return fmt.Errorf("header: at least one byte is needed to find the frames")
	case len(f.Footer) == 0:
		return fmt.Errorf("footer: at least one byte is needed to check the frames")
	case f.CodeBytes < 1 || f.CodeBytes > 8:
		return fmt.Errorf("code_bytes: %d out of range 1..8", f.CodeBytes)
	case f.Before < 0 || f.After < 0:
		return fmt.Errorf("before/after: negative byte count")
	case f.Len() > MaxFrame:
		return fmt.Errorf("a frame of %d bytes is over the limit of %d", f.Len(), MaxFrame)
	case f.KeyBits < 0 || f.KeyBits >= 8*f.CodeBytes:
		return fmt.Errorf("key_bits: %d out of range 0..%d", f.KeyBits, 8*f.CodeBytes-1)
	}
	return nil
}

// Code is one received code of a decoder board.
type Code struct {
	Value uint64 // the code bytes, big-endian
	Bytes int    // how many code bytes
	// KeyBits of Value are the key; the rest is the address.
	KeyBits int
}

// Hex is the code as hex digits, two per byte ("A1B2C3").
func (c Code) Hex() string {
	return fmt.Sprintf("%0*X", 2*c.Bytes, c.Value)
}

// Address is the code without its key bits, as hex ("A1B2C").
func (c Code) Address() string {
	bits := 8*c.Bytes - c.KeyBits
	return fmt.Sprintf("%0*X", (bits+3)/4, c.Value>>c.KeyBits)
}

// Key is the key bits, as hex ("3"); "" when the format has none.
func (c Code) Key() string {
	if c.KeyBits == 0 {
		return ""
	}
	return fmt.Sprintf("%X", c.Value&(1<<c.KeyBits-1))
}

// Parser cuts a decoder board's byte stream into codes. A frame is taken
// only when its header is at the start, its footer at exactly the right
// distance, and the byte after it (if any came yet) starts the next header:
// so a frame read from a shifted position (a lost byte, garbage, a code
// byte that looks like a header) is refused rather than decoded into a
// wrong code. A frame at the end of the data waits for the next byte or for
// Idle. Skipped bytes are counted in Garbage. The zero value is not usable:
// use NewParser.
type Parser struct {
	f       Format
	buf     []byte
	Garbage uint64 // bytes dropped while resyncing
	Frames  uint64 // frames taken
}

// NewParser makes a parser for f (validated by the caller).
func NewParser(f Format) *Parser {
	return &Parser{f: f, buf: make([]byte, 0, 4*MaxFrame)}
}

// Feed adds bytes and calls emit for each frame taken.
func (p *Parser) Feed(b []byte, emit func(Code)) {
	for len(b) > 0 {
		// Keep the buffer bounded: take what fits, parse, go on.
		n := min(len(b), cap(p.buf)-len(p.buf))
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		p.scan(false, emit)
		if len(p.buf) == cap(p.buf) { // cannot happen after scan, but never grow
			p.drop(len(p.buf) - p.f.Len())
		}
	}
}

// Idle tells the parser the line went quiet: a complete frame at the end
// of the data is taken now, and an incomplete one dropped (a board sends a
// frame in one go; the rest of a cut frame will never come).
func (p *Parser) Idle(emit func(Code)) {
	p.scan(true, emit)
	p.Reset()
}

// Pending is how many bytes wait for more data.
func (p *Parser) Pending() int { return len(p.buf) }

// Reset drops pending bytes (a reopened port), counting them as garbage.
func (p *Parser) Reset() { p.drop(len(p.buf)) }

func (p *Parser) drop(n int) {
	if n <= 0 {
		return
	}
	p.Garbage += uint64(n)
	p.buf = append(p.buf[:0], p.buf[n:]...)
}

func (p *Parser) scan(idle bool, emit func(Code)) {
	fl := p.f.Len()
	h := p.f.Header
	for len(p.buf) > 0 {
		i := bytes.Index(p.buf, h)
		if i < 0 {
			// Keep a tail that may be the start of a header.
			keep := min(len(h)-1, len(p.buf))
			for keep > 0 && !bytes.HasPrefix(h, p.buf[len(p.buf)-keep:]) {
				keep--
			}
			p.drop(len(p.buf) - keep)
			return
		}
		p.drop(i)
		if len(p.buf) < fl {
			return // wait for the rest
		}
		if !bytes.Equal(p.buf[fl-len(p.f.Footer):fl], p.f.Footer) {
			p.drop(1)
			continue
		}
		if len(p.buf) == fl && !idle {
			return // wait for the next byte (or Idle) before taking it
		}
		if len(p.buf) > fl {
			// The byte after the frame must start a header (the next
			// repeat): otherwise this frame was read from a shifted
			// position and its bytes are not a code.
			next := p.buf[fl:]
			m := min(len(next), len(h))
			if !bytes.Equal(next[:m], h[:m]) {
				p.drop(1)
				continue
			}
		}
		var v uint64
		for _, c := range p.buf[len(h)+p.f.Before : len(h)+p.f.Before+p.f.CodeBytes] {
			v = v<<8 | uint64(c)
		}
		p.Frames++
		p.buf = append(p.buf[:0], p.buf[fl:]...)
		emit(Code{Value: v, Bytes: p.f.CodeBytes, KeyBits: p.f.KeyBits})
	}
}

// ParseHex reads bytes written as hex, with or without spaces and 0x
// prefixes: "FD", "AA A4", "0xAA 0xA4", "aaa4".
func ParseHex(s string) ([]byte, error) {
	t := strings.NewReplacer("0x", "", "0X", "", " ", "", ",", "", ":", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex bytes (want such as \"FD\" or \"AA A4\")", s)
	}
	return b, nil
}
