package serial

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

func feedAll(f *Framer, chunks ...[]byte) []string {
	var out []string
	for _, c := range chunks {
		f.Feed(c, func(fr []byte) { out = append(out, string(fr)) })
	}
	return out
}

func boolp(b bool) *bool { return &b }

func TestFramer(t *testing.T) {
	tests := []struct {
		name              string
		fr                Framing
		chunks            []string
		want              []string
		garbage, overlong uint64
	}{
		{"line merged", Framing{}, []string{"a\nb\r\nc\n"}, []string{"a", "b", "c"}, 0, 0},
		{"line split", Framing{}, []string{"AL", "ARM,C", "AM3\r", "\nX"}, []string{"ALARM,CAM3"}, 0, 0},
		{"line empty lines", Framing{}, []string{"\r\n\n\na\n"}, []string{"a"}, 0, 0},
		{"line keep cr", Framing{StripCR: boolp(false)}, []string{"a\r\n"}, []string{"a\r"}, 0, 0},
		{"line overlong in one read", Framing{MaxLength: 4}, []string{"12345\nabcd\n"}, []string{"abcd"}, 0, 1},
		{"line overlong over reads", Framing{MaxLength: 4}, []string{"123", "456", "789", "0\nok\n"}, []string{"ok"}, 0, 1},
		{"line crlf delimiter split", Framing{Delimiter: Bytes("\r\n")}, []string{"a\r", "\nb\r\n"}, []string{"a", "b"}, 0, 0},
		{"delimited noise", Framing{Mode: "delimited"}, []string{"zz\x02abc\x03yy\x02de", "f\x03"}, []string{"abc", "def"}, 2, 0},
		{"delimited cut short", Framing{Mode: "delimited"}, []string{"\x02ab\x02cd\x03"}, []string{"cd"}, 1, 0},
		{"delimited overlong", Framing{Mode: "delimited", MaxLength: 3}, []string{"\x02abcdef\x03\x02xyz\x03"}, []string{"xyz"}, 0, 1},
		{"delimited overlong over reads", Framing{Mode: "delimited", MaxLength: 3}, []string{"\x02ab", "cdefg", "h\x03\x02xyz\x03"}, []string{"xyz"}, 2, 1},
		{"fixed", Framing{Mode: "fixed", Length: 3}, []string{"abcd", "ef"}, []string{"abc", "def"}, 0, 0},
		{"fixed sync resync", Framing{Mode: "fixed", Length: 3, Sync: Bytes{0xAA}}, []string{"x\xaa12", "y\xaa34\xaa"}, []string{"\xaa12", "\xaa34"}, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fr.defaults()
			if err := tc.fr.validate(plainErrorf); err != nil {
				t.Fatal(err)
			}
			f := NewFramer(tc.fr)
			var chunks [][]byte
			for _, c := range tc.chunks {
				chunks = append(chunks, []byte(c))
			}
			got := feedAll(f, chunks...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("frames: got %q, want %q", got, tc.want)
			}
			if f.Garbage != tc.garbage || f.Overlong != tc.overlong {
				t.Errorf("garbage, overlong: got %d, %d, want %d, %d", f.Garbage, f.Overlong, tc.garbage, tc.overlong)
			}
		})
	}
}

func TestFramerResetDropsPartial(t *testing.T) {
	f := NewFramer(Framing{Mode: "fixed", Length: 4})
	feedAll(f, []byte("ab")) // half a frame, then the line goes quiet
	if !f.Reset() {
		t.Fatal("Reset: want a dropped partial frame")
	}
	got := feedAll(f, []byte("wxyz"))
	if !reflect.DeepEqual(got, []string{"wxyz"}) || f.Garbage != 1 {
		t.Fatalf("got %q garbage %d, want [wxyz] garbage 1", got, f.Garbage)
	}
}

// checkSplitInvariance feeds data whole and cut at every point in cuts, and
// fails when the frames differ or break the length limit.
func checkSplitInvariance(t *testing.T, fr Framing, data []byte, cuts []int) {
	fr.defaults()
	if fr.validate(plainErrorf) != nil {
		return
	}
	whole := NewFramer(fr)
	want := feedAll(whole, data)
	for _, w := range want {
		if len(w) > fr.MaxLength {
			t.Fatalf("frame of %d bytes passed max_length %d", len(w), fr.MaxLength)
		}
	}
	split := NewFramer(fr)
	var chunks [][]byte
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(data) {
			chunks = append(chunks, data[prev:c])
			prev = c
		}
	}
	chunks = append(chunks, data[prev:])
	got := feedAll(split, chunks...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("framing %+v: split at %v got %q, whole got %q", fr, cuts, got, want)
	}
	if split.Pending() > fr.MaxLength+len(fr.Start)+len(fr.End)+len(fr.Delimiter)+fr.Length {
		t.Fatalf("holds %d bytes, more than a frame", split.Pending())
	}
}

func framingFor(mode byte, max int, length int) Framing {
	max = 1 + max%64
	switch mode % 5 {
	case 0:
		return Framing{MaxLength: max}
	case 1:
		return Framing{MaxLength: max, Delimiter: Bytes("\r\n"), StripCR: boolp(false)}
	case 2:
		return Framing{Mode: "delimited", MaxLength: max}
	case 3:
		return Framing{Mode: "delimited", MaxLength: max, Start: Bytes{0x10, 0x02}, End: Bytes{0x10, 0x03}}
	default:
		l := 2 + length%16
		return Framing{Mode: "fixed", Length: l, MaxLength: 64, Sync: Bytes{0xAA}}
	}
}

func FuzzFramer(f *testing.F) {
	f.Add(byte(0), uint8(8), uint8(4), []byte("ALARM,CAM3,FALL\r\nnoise\x00\xff\n"), uint16(3), uint16(9))
	f.Add(byte(2), uint8(4), uint8(4), []byte("zz\x02abc\x03\x02toolongframe\x03\x02ok\x03"), uint16(5), uint16(12))
	f.Add(byte(3), uint8(4), uint8(4), []byte("\x10\x02ab\x10\x03\x10\x10\x02"), uint16(1), uint16(3))
	f.Add(byte(4), uint8(4), uint8(2), []byte("\xaa\x01\x02\x03x\xaa\xaa\x05\x06"), uint16(2), uint16(7))
	f.Add(byte(1), uint8(2), uint8(0), []byte("abcdef\r\nx\r\r\n"), uint16(7), uint16(8))
	f.Fuzz(func(t *testing.T, mode byte, max, length uint8, data []byte, c1, c2 uint16) {
		fr := framingFor(mode, int(max), int(length))
		a, b := int(c1)%(len(data)+1), int(c2)%(len(data)+1)
		if a > b {
			a, b = b, a
		}
		checkSplitInvariance(t, fr, data, []int{a, b})
	})
}

func TestFramerSplitEveryByte(t *testing.T) {
	data := []byte("x\x02AB\x03\x02" + string(bytes.Repeat([]byte("q"), 70)) + "\x03\x02C\x03ALARM\r\nLONG" + string(bytes.Repeat([]byte("z"), 80)) + "\nok\r\n\xaa123\xaa45")
	for m := byte(0); m < 5; m++ {
		cuts := make([]int, 0, len(data))
		for i := 1; i < len(data); i++ {
			cuts = append(cuts, i)
		}
		t.Run(fmt.Sprint(m), func(t *testing.T) { checkSplitInvariance(t, framingFor(m, 15, 3), data, cuts) })
	}
}
