package serial

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// Mapper turns one frame into events. dev is the device the frame belongs
// to when it could be told ("" otherwise), so errors can be counted on it.
type Mapper interface {
	Map(frame []byte, out []edge.Event) (evs []edge.Event, dev string, err error)
}

// ErrNoMatch is returned for a frame the decoder does not recognise.
var ErrNoMatch = errors.New("frame does not match")

type point struct {
	PointConf
	scale float64
	idx   int // regexp group index
	path  []string
}

// emitter builds the events of one point and remembers states for on_change.
type emitter struct {
	last map[string]string // device+"\x00"+point -> state
}

func (e *emitter) value(p *point, dev, raw string, out []edge.Event) ([]edge.Event, error) {
	if p.Kind == "state" {
		if p.OnChange {
			if e.last == nil {
				e.last = map[string]string{}
			}
			k := dev + "\x00" + p.Point
			if old, ok := e.last[k]; ok && old == raw {
				return out, nil
			}
			e.last[k] = raw
		}
		v, ok := p.Values[raw]
		if !ok {
			v = 1
		}
		return append(out, edge.StateChange(dev, p.Point, raw, v)), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return out, fmt.Errorf("point %q of device %q: %q is not a number", p.Point, dev, clip(raw))
	}
	v := f*p.scale + p.Offset
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return out, fmt.Errorf("point %q of device %q: %q scaled is out of range", p.Point, dev, clip(raw))
	}
	return append(out, edge.Reading(dev, p.Point, v, p.Unit)), nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// regexpMapper decodes text frames with named groups.
type regexpMapper struct {
	re       *regexp.Regexp
	ignore   *regexp.Regexp
	devGroup int
	devs     *deviceIndex
	device   string
	points   []point
	emitter
}

func compileRegexp(c *RegexpDecode, devs *deviceIndex, ef errorf) (*regexpMapper, error) {
	if c.Pattern == "" {
		return nil, ef("decode.regexp.pattern", "required")
	}
	re, err := compileRE(c.Pattern, "decode.regexp.pattern", ef)
	if err != nil {
		return nil, err
	}
	m := &regexpMapper{re: re, devs: devs, devGroup: -1}
	if c.Ignore != "" {
		if m.ignore, err = compileRE(c.Ignore, "decode.regexp.ignore", ef); err != nil {
			return nil, err
		}
	}
	if c.DeviceGroup != "" {
		if m.devGroup = re.SubexpIndex(c.DeviceGroup); m.devGroup < 0 {
			return nil, ef("decode.regexp.device_group", "the pattern has no group named %q", c.DeviceGroup)
		}
	} else if m.device, err = devs.fixed(c.Device, "decode.regexp.device", ef); err != nil {
		return nil, err
	}
	if len(c.Points) == 0 {
		return nil, ef("decode.regexp.points", "map at least one group to a point")
	}
	for i, pc := range c.Points {
		f := fmt.Sprintf("decode.regexp.points[%d]", i)
		if err := pointDefaults(&pc, pc.Group, f, ef); err != nil {
			return nil, err
		}
		idx := re.SubexpIndex(pc.Group)
		if pc.Group == "" || idx < 0 {
			return nil, ef(f+".group", "the pattern has no group named %q", pc.Group)
		}
		m.points = append(m.points, point{PointConf: pc, scale: scaleOf(pc.Scale), idx: idx})
	}
	return m, nil
}

func scaleOf(p *float64) float64 {
	if p == nil {
		return 1
	}
	return *p
}

func (m *regexpMapper) Map(frame []byte, out []edge.Event) ([]edge.Event, string, error) {
	sm := m.re.FindSubmatchIndex(frame)
	if sm == nil {
		if m.ignore != nil && m.ignore.Match(frame) {
			return out, m.device, nil
		}
		return out, "", ErrNoMatch
	}
	group := func(i int) string {
		if sm[2*i] < 0 {
			return ""
		}
		return string(frame[sm[2*i]:sm[2*i+1]])
	}
	dev := m.device
	if m.devGroup >= 0 {
		raw := group(m.devGroup)
		id, ok := m.devs.byMatch[raw]
		if !ok {
			return out, "", fmt.Errorf("unknown device %q in frame", clip(raw))
		}
		dev = id
	}
	var err error
	start := len(out)
	for i := range m.points {
		p := &m.points[i]
		if sm[2*p.idx] < 0 {
			continue // optional group absent
		}
		if out, err = m.value(p, dev, group(p.idx), out); err != nil {
			return out[:start], dev, err
		}
	}
	return out, dev, nil
}

// jsonMapper decodes JSON-object frames.
type jsonMapper struct {
	devPath []string
	devs    *deviceIndex
	device  string
	points  []point
	emitter
}

func splitPath(s string) []string { return strings.Split(s, ".") }

func compileJSON(c *JSONDecode, devs *deviceIndex, ef errorf) (*jsonMapper, error) {
	m := &jsonMapper{devs: devs}
	var err error
	if c.DeviceField != "" {
		m.devPath = splitPath(c.DeviceField)
	} else if m.device, err = devs.fixed(c.Device, "decode.json.device", ef); err != nil {
		return nil, err
	}
	if len(c.Points) == 0 {
		return nil, ef("decode.json.points", "map at least one field to a point")
	}
	for i, pc := range c.Points {
		f := fmt.Sprintf("decode.json.points[%d]", i)
		if pc.Field == "" {
			return nil, ef(f+".field", "required: a dotted path such as data.temp")
		}
		if err := pointDefaults(&pc, pc.Field, f, ef); err != nil {
			return nil, err
		}
		m.points = append(m.points, point{PointConf: pc, scale: scaleOf(pc.Scale), path: splitPath(pc.Field)})
	}
	return m, nil
}

func lookup(v any, path []string) (any, bool) {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			nv, ok := x[k]
			if !ok {
				return nil, false
			}
			v = nv
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func (m *jsonMapper) Map(frame []byte, out []edge.Event) ([]edge.Event, string, error) {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return out, "", fmt.Errorf("%w: not a JSON object: %v", ErrNoMatch, err)
	}
	dev := m.device
	if m.devPath != nil {
		v, ok := lookup(obj, m.devPath)
		raw, isText := jsonText(v)
		if !ok || !isText {
			return out, "", fmt.Errorf("no device id at %q", strings.Join(m.devPath, "."))
		}
		if dev, ok = m.devs.byMatch[raw]; !ok {
			return out, "", fmt.Errorf("unknown device %q in frame", clip(raw))
		}
	}
	found := false
	var err error
	start := len(out)
	for i := range m.points {
		p := &m.points[i]
		v, ok := lookup(obj, p.path)
		if !ok || v == nil {
			continue
		}
		raw, isText := jsonText(v)
		if !isText {
			return out[:start], dev, fmt.Errorf("field %q of device %q is not a number, string or bool", p.Field, dev)
		}
		if p.Kind == "reading" {
			if b, isBool := v.(bool); isBool {
				raw = "0"
				if b {
					raw = "1"
				}
			}
		}
		found = true
		if out, err = m.value(p, dev, raw, out); err != nil {
			return out[:start], dev, err
		}
	}
	if !found {
		return out, dev, fmt.Errorf("%w: none of the configured fields is present", ErrNoMatch)
	}
	return out, dev, nil
}

// binaryMapper decodes fixed byte fields.
type binaryMapper struct {
	device string
	fields []field
}

type field struct {
	FieldConf
	size  int
	scale float64
	order binary.ByteOrder
}

var typeSizes = map[string]int{"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "f32": 4}

func compileBinary(c *BinaryDecode, devs *deviceIndex, fr Framing, ef errorf) (*binaryMapper, error) {
	m := &binaryMapper{}
	var err error
	if m.device, err = devs.fixed(c.Device, "decode.binary.device", ef); err != nil {
		return nil, err
	}
	if len(c.Fields) == 0 {
		return nil, ef("decode.binary.fields", "declare at least one field")
	}
	for i, fc := range c.Fields {
		f := fmt.Sprintf("decode.binary.fields[%d]", i)
		if fc.Type == "" {
			fc.Type = "u8"
		}
		size, ok := typeSizes[fc.Type]
		if !ok {
			return nil, ef(f+".type", "unknown type %q: want u8, i8, u16, i16, u32, i32 or f32", fc.Type)
		}
		var order binary.ByteOrder = binary.BigEndian
		switch fc.Endian {
		case "", "big":
		case "little":
			order = binary.LittleEndian
		default:
			return nil, ef(f+".endian", "unknown endianness %q: want big or little", fc.Endian)
		}
		if fc.Point == "" {
			return nil, ef(f+".point", "required")
		}
		if fc.Offset < 0 {
			return nil, ef(f+".offset", "must not be negative")
		}
		if fr.Mode == "fixed" && fc.Offset+size > fr.Length {
			return nil, ef(f+".offset", "%s at offset %d runs past the %d-byte frame", fc.Type, fc.Offset, fr.Length)
		}
		m.fields = append(m.fields, field{FieldConf: fc, size: size, scale: scaleOf(fc.Scale), order: order})
	}
	return m, nil
}

// DecodeField reads one field of typ ("u8".."f32") at off in frame.
func decodeField(frame []byte, f *field) (float64, error) {
	if f.Offset+f.size > len(frame) || f.Offset < 0 {
		return 0, fmt.Errorf("frame of %d bytes too short for %s at offset %d", len(frame), f.Type, f.Offset)
	}
	b := frame[f.Offset : f.Offset+f.size]
	var v float64
	switch f.Type {
	case "u8":
		v = float64(b[0])
	case "i8":
		v = float64(int8(b[0]))
	case "u16":
		v = float64(f.order.Uint16(b))
	case "i16":
		v = float64(int16(f.order.Uint16(b)))
	case "u32":
		v = float64(f.order.Uint32(b))
	case "i32":
		v = float64(int32(f.order.Uint32(b)))
	case "f32":
		v = float64(math.Float32frombits(f.order.Uint32(b)))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("f32 at offset %d is not a finite number", f.Offset)
		}
	default:
		return 0, fmt.Errorf("unknown type %q", f.Type)
	}
	return v*f.scale + f.ValueOffset, nil
}

func (m *binaryMapper) Map(frame []byte, out []edge.Event) ([]edge.Event, string, error) {
	start := len(out)
	for i := range m.fields {
		f := &m.fields[i]
		v, err := decodeField(frame, f)
		if err != nil {
			return out[:start], m.device, fmt.Errorf("device %q point %q: %w", m.device, f.Point, err)
		}
		out = append(out, edge.Reading(m.device, f.Point, v, f.Unit))
	}
	return out, m.device, nil
}

var (
	_ Mapper = (*regexpMapper)(nil)
	_ Mapper = (*jsonMapper)(nil)
	_ Mapper = (*binaryMapper)(nil)
)
