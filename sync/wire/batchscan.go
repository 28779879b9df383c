package wire

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeBatchDoc fills d from data. A batch is a few columns of thousands
// of small numbers, which encoding/json decodes by reflection, number by
// number: the central's receivers spent ~40% of their CPU there. So the
// shape AppendBatch writes (an object of the known members: integers,
// floats, strings, arrays of them) is scanned by hand; anything else (an
// unknown or differently cased member, a member given twice, null, an
// escape in a string, a number that is not what the column holds) falls
// back to json.Unmarshal, so what is accepted and every error are
// encoding/json's. The vx and ext members (rare) are handed to
// json.Unmarshal as they are.
func decodeBatchDoc(data []byte, d *batchDoc) error {
	var f batchDoc
	if scanBatchDoc(data, &f) {
		*d = f
		return nil
	}
	return json.Unmarshal(data, d)
}

// scanBatchDoc is the fast path of decodeBatchDoc; false: use encoding/json.
func scanBatchDoc(data []byte, d *batchDoc) bool {
	s := scanner{b: data}
	if !s.next('{') {
		return false
	}
	var seen uint32
	if s.next('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		bit, ok := batchMembers[key]
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch key {
		case "version":
			ok = s.intValue(&d.Version)
		case "n":
			ok = s.intValue(&d.N)
		case "strings":
			d.Strings, ok = s.strs()
		case "epochs":
			d.Epochs, ok = s.strs()
		case "epoch":
			d.Epoch, ok = s.ints()
		case "seq":
			d.Seq, ok = s.int64s()
		case "ts":
			d.TS, ok = s.int64s()
		case "untrusted":
			d.Untrusted, ok = s.ints()
		case "kind":
			d.Kind, ok = s.ints()
		case "prio":
			d.Prio, ok = s.ints()
		case "dev":
			d.Dev, ok = s.ints()
		case "pt":
			d.Pt, ok = s.ints()
		case "v":
			d.V, ok = s.floats()
		case "vx":
			ok = s.raw(&d.VX)
		case "unit":
			d.Unit, ok = s.ints()
		case "q":
			d.Q, ok = s.ints()
		case "text":
			d.Text, ok = s.ints()
		case "online":
			d.Online, ok = s.ints()
		case "loc":
			d.Loc, ok = s.ints()
		case "boot":
			d.Boot, ok = s.ints()
		case "mono":
			d.Mono, ok = s.int64s()
		case "ext":
			ok = s.raw(&d.Ext)
		}
		if !ok {
			return false
		}
		if s.next('}') {
			return s.end()
		}
		if !s.next(',') {
			return false
		}
	}
}

// batchMembers are the members scanBatchDoc takes, each with its bit.
var batchMembers = func() map[string]uint32 {
	m := map[string]uint32{}
	for i, k := range []string{"version", "n", "strings", "epochs", "epoch", "seq", "ts", "untrusted",
		"kind", "prio", "dev", "pt", "v", "vx", "unit", "q", "text", "online", "loc", "boot", "mono", "ext"} {
		m[k] = 1 << i
	}
	return m
}()

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c (after white space) if it is there.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end: nothing but white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str scans a string without escapes or control characters, valid UTF-8.
func (s *scanner) str() (string, bool) {
	if !s.next('"') {
		return "", false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return "", false
			}
			return string(raw), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

// number returns the span of a JSON number; integer: only -?(0|[1-9][0-9]*).
func (s *scanner) number(integer bool) ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if !s.digits(true) {
		return nil, false
	}
	if !integer {
		if s.i < len(s.b) && s.b[s.i] == '.' {
			s.i++
			if !s.digits(false) {
				return nil, false
			}
		}
		if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
			s.i++
			if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
				s.i++
			}
			if !s.digits(false) {
				return nil, false
			}
		}
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E', '+', '-':
			return nil, false // a fraction or exponent where an integer was wanted
		}
	}
	return s.b[start:s.i], true
}

// digits scans one or more digits; leading: a leading 0 stands alone.
func (s *scanner) digits(leading bool) bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start {
		return false
	}
	if leading && s.b[start] == '0' && s.i-start > 1 {
		return false
	}
	return true
}

func (s *scanner) int64Value(bits int) (int64, bool) {
	span, ok := s.number(true)
	if !ok {
		return 0, false
	}
	if len(span) < 18 { // no overflow possible: convert by hand
		neg := span[0] == '-'
		if neg {
			span = span[1:]
		}
		var v int64
		for _, c := range span {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		if bits == 32 && int64(int32(v)) != v {
			return 0, false
		}
		return v, true
	}
	v, err := strconv.ParseInt(string(span), 10, bits)
	return v, err == nil
}

func (s *scanner) intValue(dst *int) bool {
	v, ok := s.int64Value(strconv.IntSize)
	*dst = int(v)
	return ok
}

// array scans [ elem, ... ] calling elem for each element.
func (s *scanner) array(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// capHint is the capacity for the number column that starts at s.i: its
// commas before the first ']' plus one (numbers hold neither), so what is
// allocated follows the input, not what n claims.
func (s *scanner) capHint() int {
	n := 1
	for _, c := range s.b[s.i:] {
		if c == ']' {
			break
		}
		if c == ',' {
			n++
		}
	}
	return n
}

func (s *scanner) ints() ([]int, bool) {
	out := make([]int, 0, s.capHint())
	ok := s.array(func() bool {
		v, ok := s.int64Value(strconv.IntSize)
		out = append(out, int(v))
		return ok
	})
	return out, ok
}

func (s *scanner) int64s() ([]int64, bool) {
	out := make([]int64, 0, s.capHint())
	ok := s.array(func() bool {
		v, ok := s.int64Value(64)
		out = append(out, v)
		return ok
	})
	return out, ok
}

func (s *scanner) floats() ([]float64, bool) {
	out := make([]float64, 0, s.capHint())
	ok := s.array(func() bool {
		span, ok := s.number(false)
		if !ok {
			return false
		}
		v, err := strconv.ParseFloat(string(span), 64)
		out = append(out, v)
		return err == nil
	})
	return out, ok
}

func (s *scanner) strs() ([]string, bool) {
	out := []string{}
	ok := s.array(func() bool {
		v, ok := s.str()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// raw hands the next value to json.Unmarshal. The value's end is found by
// counting brackets outside strings; json.Unmarshal checks the rest.
func (s *scanner) raw(dst any) bool {
	s.ws()
	start, depth := s.i, 0
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; c {
		case '"':
			for s.i++; s.i < len(s.b) && s.b[s.i] != '"'; s.i++ {
				if s.b[s.i] == '\\' {
					s.i++
				}
			}
			if s.i >= len(s.b) {
				return false
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return json.Unmarshal(s.b[start:s.i], dst) == nil
			}
			if depth--; depth == 0 {
				s.i++
				return json.Unmarshal(s.b[start:s.i], dst) == nil
			}
		case ',':
			if depth == 0 {
				return json.Unmarshal(s.b[start:s.i], dst) == nil
			}
		}
	}
	return false
}
