package rf433

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// ev is the frame the common decoder board prints for code c (three bytes)
// with oscillator byte osc.
func ev(c uint32, osc byte) []byte {
	return []byte{0xFD, byte(c >> 16), byte(c >> 8), byte(c), osc, 0xDF}
}

func sonoff(c uint32) []byte {
	// AA A4, Tsyn 0x2A 0xF8 (11000 us), Tlow 0x01 0x5E, Thigh 0x04 0x1A, data, 55
	return []byte{0xAA, 0xA4, 0x2A, 0xF8, 0x01, 0x5E, 0x04, 0x1A, byte(c >> 16), byte(c >> 8), byte(c), 0x55}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func parseAll(f Format, chunks [][]byte) ([]string, *Parser) {
	p := NewParser(f)
	var got []string
	emit := func(c Code) { got = append(got, c.Hex()) }
	for _, c := range chunks {
		p.Feed(c, emit)
	}
	p.Idle(emit)
	return got, p
}

func TestParser(t *testing.T) {
	a, b := ev(0x5A3C1E, 0x2C), ev(0x5A3C17, 0x2C)
	for _, tc := range []struct {
		name    string
		f       Format
		in      [][]byte
		want    []string
		garbage uint64
	}{
		{"one frame", FormatEV1527, [][]byte{a}, []string{"5A3C1E"}, 0},
		{"repeats", FormatEV1527, [][]byte{cat(a, a, a, a)}, []string{"5A3C1E", "5A3C1E", "5A3C1E", "5A3C1E"}, 0},
		{"split anywhere", FormatEV1527, [][]byte{a[:1], a[1:4], cat(a[4:], b[:2]), b[2:]}, []string{"5A3C1E", "5A3C17"}, 0},
		{"garbage before", FormatEV1527, [][]byte{{0x00, 0x13, 0xFF}, a}, []string{"5A3C1E"}, 3},
		{"truncated frame then a whole one", FormatEV1527, [][]byte{a[:3], a}, []string{"5A3C1E"}, 3},
		{"lost byte in the middle", FormatEV1527, [][]byte{cat(a[:2], a[3:], b)}, []string{"5A3C17"}, 5},
		{"garbage after a frame refuses it", FormatEV1527, [][]byte{cat(a, []byte{0x42}), b}, []string{"5A3C17"}, 7},
		{"header byte inside a code", FormatEV1527, [][]byte{cat(ev(0xFDFDFD, 0xFD), ev(0xFDFDFD, 0xFD))}, []string{"FDFDFD", "FDFDFD"}, 0},
		// A partial frame whose footer position lands on a DF of the next
		// frame's code: the byte after it is not a header, so it is refused.
		{"shifted frame with a footer byte in the code", FormatEV1527, [][]byte{cat([]byte{0xFD, 0x11}, ev(0x22DF33, 0x44), ev(0x22DF33, 0x44))}, []string{"22DF33", "22DF33"}, 2},
		{"sonoff", FormatSonoff, [][]byte{cat(sonoff(0xA1B2C3), sonoff(0xA1B2C3))}, []string{"A1B2C3", "A1B2C3"}, 0},
		{"sonoff after noise", FormatSonoff, [][]byte{{0xAA, 0x00, 0xAA}, sonoff(0x010203)[:5], sonoff(0x010203)[5:]}, []string{"010203"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, p := parseAll(tc.f, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if p.Garbage != tc.garbage {
				t.Fatalf("got %d garbage bytes, want %d", p.Garbage, tc.garbage)
			}
		})
	}
}

// TestParserNeverShifted sends bursts of real frames of random codes (a
// trigger: the same frame several times) with bytes lost at random, cut
// into reads at random places, and noise between the bursts; the line goes
// quiet between bursts, as it does between triggers. A frame read from a
// shifted position must not come out as a code. The frame has no checksum,
// so lost bytes can still line up as a frame when the code or oscillator
// bytes hold header and footer bytes (FD, DF): for codes without them, a
// code that comes out twice in a burst (min_repeats: 2) must have been
// sent; wrong single frames are counted for all codes, and must stay rare.
func TestParserNeverShifted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	frames, lost, wrong, wrongHard := 0, 0, 0, 0
	for round := 0; round < 5000; round++ {
		p := NewParser(FormatEV1527)
		c := r.Uint32() & 0xFFFFFF
		osc := byte(r.IntN(256))
		hard := r.IntN(4) == 0
		if hard { // codes full of header and footer bytes
			c |= 0xDF00DF
			osc = []byte{0xFD, 0xDF}[r.IntN(2)]
		}
		f := ev(c, osc)
		for _, b := range f[1:5] {
			hard = hard || b == 0xFD || b == 0xDF
		}
		want := Code{Value: uint64(c), Bytes: 3}.Hex()
		var stream []byte
		for i := r.IntN(4); i > 0; i-- { // noise before: never a header byte
			stream = append(stream, []byte{0xDF, 0x00, 0xFF, byte(r.IntN(0xFD))}[r.IntN(4)])
		}
		for n := 2 + r.IntN(5); n > 0; n-- {
			g := append([]byte(nil), f...)
			if r.IntN(10) == 0 {
				i := r.IntN(len(g))
				g = append(g[:i], g[i+1:]...)
				lost++
			}
			stream = append(stream, g...)
		}
		burst := append([]byte(nil), stream...)
		seen := map[string]int{}
		emit := func(c Code) {
			frames++
			seen[c.Hex()]++
			if c.Hex() != want {
				if hard {
					wrongHard++
				} else {
					wrong++
				}
				if seen[c.Hex()] > 1 && !hard {
					t.Fatalf("round %d: parser gave %s twice, sent %s in % X", round, c.Hex(), want, burst)
				}
			}
		}
		for len(stream) > 0 {
			n := 1 + r.IntN(len(stream))
			p.Feed(stream[:n], emit)
			stream = stream[n:]
		}
		p.Idle(emit)
	}
	t.Logf("%d frames taken, %d had a byte lost; wrong codes: %d, %d more from codes holding FD/DF bytes", frames, lost, wrong, wrongHard)
	if wrong*1000 > frames {
		t.Fatalf("%d wrong codes of %d frames", wrong, frames)
	}
}

func TestCodeParts(t *testing.T) {
	c := Code{Value: 0x5A3C1E, Bytes: 3, KeyBits: 4}
	if c.Hex() != "5A3C1E" || c.Address() != "5A3C1" || c.Key() != "E" {
		t.Fatalf("got %s %s %s, want 5A3C1E 5A3C1 E", c.Hex(), c.Address(), c.Key())
	}
	c = Code{Value: 0x0000A5, Bytes: 3}
	if c.Hex() != "0000A5" || c.Address() != "0000A5" || c.Key() != "" {
		t.Fatalf("got %s %s %q", c.Hex(), c.Address(), c.Key())
	}
}

func FuzzParser(f *testing.F) {
	f.Add(ev(0x5A3C1E, 0x2C), byte(0))
	f.Add(cat(ev(0x123456, 1), ev(0x123456, 1), []byte{0xFD, 0xDF}), byte(1))
	f.Add(cat(sonoff(0xA1B2C3), []byte{0xAA}), byte(2))
	f.Add([]byte{0xFD, 0xFD, 0xFD, 0xDF, 0xDF, 0xDF, 0xFD}, byte(3))
	f.Fuzz(func(t *testing.T, data []byte, split byte) {
		for _, fm := range []Format{FormatEV1527, FormatSonoff} {
			p := NewParser(fm)
			n := 0
			emit := func(c Code) {
				n++
				if c.Bytes != fm.CodeBytes || c.Value>>(8*c.Bytes) != 0 {
					t.Fatalf("code %+v does not fit the format", c)
				}
			}
			cut := int(split) % (len(data) + 1)
			p.Feed(data[:cut], emit)
			p.Feed(data[cut:], emit)
			p.Idle(emit)
			if p.Pending() >= fm.Len()+len(fm.Header) {
				t.Fatalf("%d bytes pending after Idle", p.Pending())
			}
			if uint64(n)*uint64(fm.Len())+p.Garbage+uint64(p.Pending()) != uint64(len(data)) {
				t.Fatalf("bytes lost: %d frames, %d garbage, %d pending of %d", n, p.Garbage, p.Pending(), len(data))
			}
		}
	})
}
