package serial

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// Port is the line settings shared by the input, the output and the probe.
type Port struct {
	// Port is the device path: /dev/ttyUSB0, /dev/ttyS1, COM3. Required.
	Port string `yaml:"port"`
	// Baud is the bit rate. Default: 9600.
	Baud int `yaml:"baud"`
	// DataBits is 5, 6, 7 or 8. Default: 8.
	DataBits int `yaml:"data_bits"`
	// Parity is none, odd, even, mark or space. Default: none.
	Parity string `yaml:"parity"`
	// StopBits is 1, 1.5 or 2. Default: 1. (Linux drivers refuse 1.5.)
	StopBits float64 `yaml:"stop_bits"`
}

func (p *Port) defaults() {
	if p.Baud == 0 {
		p.Baud = 9600
	}
	if p.DataBits == 0 {
		p.DataBits = 8
	}
	if p.Parity == "" {
		p.Parity = "none"
	}
	if p.StopBits == 0 {
		p.StopBits = 1
	}
}

// errorf names the field of a failed check; edge.Options.Errorf fits.
type errorf func(field, format string, args ...any) error

func plainErrorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

func (p *Port) validate(ef errorf) error {
	if strings.TrimSpace(p.Port) == "" {
		return ef("port", "required: the serial device, such as /dev/ttyUSB0 or COM3 (see `edgegw ports`)")
	}
	if p.Baud < 50 || p.Baud > 4000000 {
		return ef("baud", "%d out of range 50..4000000", p.Baud)
	}
	if p.DataBits < 5 || p.DataBits > 8 {
		return ef("data_bits", "%d: want 5, 6, 7 or 8", p.DataBits)
	}
	if _, err := parseParity(p.Parity); err != nil {
		return ef("parity", "%v", err)
	}
	if _, err := parseStopBits(p.StopBits); err != nil {
		return ef("stop_bits", "%v", err)
	}
	return nil
}

// Mode returns the go.bug.st/serial mode of p (after defaults).
func (p Port) Mode() (*bugserial.Mode, error) {
	p.defaults()
	par, err := parseParity(p.Parity)
	if err != nil {
		return nil, err
	}
	sb, err := parseStopBits(p.StopBits)
	if err != nil {
		return nil, err
	}
	return &bugserial.Mode{BaudRate: p.Baud, DataBits: p.DataBits, Parity: par, StopBits: sb}, nil
}

func parseParity(s string) (bugserial.Parity, error) {
	switch strings.ToLower(s) {
	case "", "none", "n":
		return bugserial.NoParity, nil
	case "odd", "o":
		return bugserial.OddParity, nil
	case "even", "e":
		return bugserial.EvenParity, nil
	case "mark", "m":
		return bugserial.MarkParity, nil
	case "space", "s":
		return bugserial.SpaceParity, nil
	}
	return 0, edge.Msgf("unknown parity %q: want none, odd, even, mark or space", s)
}

func parseStopBits(f float64) (bugserial.StopBits, error) {
	switch f {
	case 0, 1:
		return bugserial.OneStopBit, nil
	case 1.5:
		return bugserial.OnePointFiveStopBits, nil
	case 2:
		return bugserial.TwoStopBits, nil
	}
	return 0, edge.Msgf("%v: want 1, 1.5 or 2", f)
}

// Bytes is a byte sequence written as control-character names and hex
// bytes separated by spaces: "STX", "CR LF", "0x7E", "7E 03", "0x0d0a".
type Bytes []byte

var ctlNames = map[string]byte{
	"NUL": 0x00, "SOH": 0x01, "STX": 0x02, "ETX": 0x03, "EOT": 0x04, "ENQ": 0x05,
	"ACK": 0x06, "BEL": 0x07, "BS": 0x08, "TAB": 0x09, "HT": 0x09, "LF": 0x0a,
	"VT": 0x0b, "FF": 0x0c, "CR": 0x0d, "SO": 0x0e, "SI": 0x0f, "DLE": 0x10,
	"NAK": 0x15, "SYN": 0x16, "ETB": 0x17, "CAN": 0x18, "SUB": 0x1a, "ESC": 0x1b,
	"FS": 0x1c, "GS": 0x1d, "RS": 0x1e, "US": 0x1f, "DEL": 0x7f,
}

// ParseBytes parses the Bytes notation.
func ParseBytes(s string) ([]byte, error) {
	var out []byte
	for _, tok := range strings.Fields(s) {
		if b, ok := ctlNames[strings.ToUpper(tok)]; ok {
			out = append(out, b)
			continue
		}
		h := strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X")
		if len(h) == 1 {
			h = "0" + h
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(h) == 0 {
			return nil, edge.Msgf("%q is neither a hex byte (02, 0x7E) nor a control name (STX, ETX, CR, LF)", tok)
		}
		out = append(out, b...)
	}
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Framing says how the byte stream is cut into frames.
type Framing struct {
	// Mode is line, delimited (start/end bytes) or fixed. Default: line.
	Mode string `yaml:"mode"`
	// Delimiter ends a line (mode line). Default: LF.
	Delimiter Bytes `yaml:"delimiter"`
	// StripCR drops a CR before the delimiter (mode line). Default: true.
	StripCR *bool `yaml:"strip_cr"`
	// Start and End enclose a frame (mode delimited); the frame handed to
	// the decoder is what lies between them. Default: STX and ETX.
	Start Bytes `yaml:"start"`
	End   Bytes `yaml:"end"`
	// Length is the frame length in bytes (mode fixed). Required there.
	Length int `yaml:"length"`
	// Sync, when set, is the first byte(s) of every fixed frame; the decoder
	// resynchronises on it after garbage (mode fixed). Default: none.
	Sync Bytes `yaml:"sync"`
	// MaxLength drops longer frames as overlong and resynchronises.
	// Default: 1024.
	MaxLength int `yaml:"max_length"`
}

func (f *Framing) defaults() {
	if f.Mode == "" {
		f.Mode = "line"
	}
	if len(f.Delimiter) == 0 {
		f.Delimiter = Bytes{'\n'}
	}
	if f.StripCR == nil {
		t := true
		f.StripCR = &t
	}
	if len(f.Start) == 0 {
		f.Start = Bytes{0x02}
	}
	if len(f.End) == 0 {
		f.End = Bytes{0x03}
	}
	if f.MaxLength == 0 {
		f.MaxLength = 1024
	}
}

func (f *Framing) validate(ef errorf) error {
	switch f.Mode {
	case "line", "delimited", "fixed":
	default:
		return ef("framing.mode", "unknown framing %q: want line, delimited or fixed", f.Mode)
	}
	if f.MaxLength < 1 || f.MaxLength > 1<<20 {
		return ef("framing.max_length", "%d out of range 1..1048576", f.MaxLength)
	}
	if len(f.Delimiter) > 8 {
		return ef("framing.delimiter", "at most 8 bytes")
	}
	if f.Mode == "fixed" {
		if f.Length < 1 || f.Length > f.MaxLength {
			return ef("framing.length", "%d: want 1..max_length (%d)", f.Length, f.MaxLength)
		}
		if len(f.Sync) >= f.Length {
			return ef("framing.sync", "must be shorter than the frame length %d", f.Length)
		}
	}
	return nil
}

// DeviceConf declares one device served by the input.
type DeviceConf struct {
	// ID is the gateway-wide device id. Required.
	ID string `yaml:"id"`
	// Location is compound/building/unit/household.
	Location string `yaml:"location"`
	// Tags are free labels rules match on ("observe", "camera").
	Tags []string `yaml:"tags"`
	// Type is a free-form device type ("camera", "sign").
	Type string `yaml:"type"`
	// Match is the id the device sends in its frames, when it differs from
	// ID (the regexp's device group or the JSON device field). Default: ID.
	Match string `yaml:"match"`
}

// Options is the "serial" input driver's part of the config.
type Options struct {
	Port `yaml:",inline"`
	// Framing cuts the byte stream into frames.
	Framing Framing `yaml:"framing"`
	// Decode turns frames into events.
	Decode Decode `yaml:"decode"`
	// Devices are the devices on this line. At least one.
	Devices []DeviceConf `yaml:"devices"`
	// ReadTimeout bounds each read so the driver notices cancellation and
	// stale partial frames. Default: 100ms.
	ReadTimeout edge.Duration `yaml:"read_timeout"`
	// FrameTimeout drops a partial frame when the line stays silent this
	// long in the middle of it (counted as garbage). Default: 0 (off).
	FrameTimeout edge.Duration `yaml:"frame_timeout"`
	// OfflineAfter reports a device offline when none of its frames came
	// for this long (for devices that send a heartbeat). Default: 0 (off).
	OfflineAfter edge.Duration `yaml:"offline_after"`
	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between attempts to reopen a vanished port. Defaults: 1s and 30s.
	ReconnectMin edge.Duration `yaml:"reconnect_min"`
	ReconnectMax edge.Duration `yaml:"reconnect_max"`
	// LogInterval is the least time between two log lines about garbage or
	// errors of one device; the line says how many were suppressed.
	// Default: 10s.
	LogInterval edge.Duration `yaml:"log_interval"`
}

// Defaults fills the zero fields with their defaults.
func (o *Options) Defaults() {
	o.Port.defaults()
	o.Framing.defaults()
	if o.ReadTimeout == 0 {
		o.ReadTimeout = edge.Duration(100 * time.Millisecond)
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = edge.Duration(time.Second)
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = edge.Duration(30 * time.Second)
	}
	if o.LogInterval == 0 {
		o.LogInterval = edge.Duration(10 * time.Second)
	}
}

// Validate checks o (after Defaults); ef names the field (edge.Options.Errorf
// or nil for plain errors).
func (o *Options) Validate(ef func(field, format string, args ...any) error) error {
	if ef == nil {
		ef = plainErrorf
	}
	if err := o.Port.validate(ef); err != nil {
		return err
	}
	if err := o.Framing.validate(ef); err != nil {
		return err
	}
	if len(o.Devices) == 0 {
		return ef("devices", "declare at least one device (id, location, tags, type)")
	}
	seen := map[string]bool{}
	for i, d := range o.Devices {
		if strings.TrimSpace(d.ID) == "" {
			return ef(fmt.Sprintf("devices[%d].id", i), "required")
		}
		if seen[d.ID] {
			return ef(fmt.Sprintf("devices[%d].id", i), "duplicate device id %q", d.ID)
		}
		seen[d.ID] = true
	}
	if o.ReadTimeout.D() < time.Millisecond || o.ReadTimeout.D() > 10*time.Second {
		return ef("read_timeout", "%v out of range 1ms..10s", o.ReadTimeout)
	}
	if o.ReconnectMin <= 0 || o.ReconnectMax < o.ReconnectMin {
		return ef("reconnect_max", "must be >= reconnect_min (%v)", o.ReconnectMin)
	}
	for _, c := range []struct {
		n string
		d edge.Duration
	}{{"frame_timeout", o.FrameTimeout}, {"offline_after", o.OfflineAfter}, {"log_interval", o.LogInterval}} {
		if c.d < 0 {
			return ef(c.n, "must not be negative")
		}
	}
	if _, err := o.Decode.compile(o, ef); err != nil {
		return err
	}
	return nil
}

// Decode turns a frame into points. Exactly one of Regexp, JSON, Binary
// is set.
type Decode struct {
	Regexp *RegexpDecode `yaml:"regexp"`
	JSON   *JSONDecode   `yaml:"json"`
	Binary *BinaryDecode `yaml:"binary"`
}

// PointConf maps one value of a frame to a point.
type PointConf struct {
	// Group is the regexp's named group (regexp decoding).
	Group string `yaml:"group"`
	// Field is a dotted path into the JSON object, "data.temp" or
	// "sensors.0.v" (JSON decoding).
	Field string `yaml:"field"`
	// Point is the point name in events. Default: the group or field.
	Point string `yaml:"point"`
	// Kind is reading (the value parsed as a number) or state (the text
	// kept as the state). Default: reading.
	Kind string `yaml:"kind"`
	// Unit of a reading ("C", "%").
	Unit string `yaml:"unit"`
	// Scale and Offset: value = raw*scale + offset. Defaults: 1 and 0.
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	// Values gives a state's numeric value ({FALL: 1, CLEAR: 0}); states
	// not listed get 1.
	Values map[string]float64 `yaml:"values"`
	// OnChange emits a state only when it differs from the last one.
	// Default: false (every frame is an event, as alarms want).
	OnChange bool `yaml:"on_change"`
}

// RegexpDecode decodes text frames with a regexp's named groups.
type RegexpDecode struct {
	// Pattern is an RE2 regexp with named groups (?P<name>...). Required.
	Pattern string `yaml:"pattern"`
	// DeviceGroup names the group that carries the device id, matched
	// against each device's match (or id). Default: none, and then the
	// frame belongs to Device.
	DeviceGroup string `yaml:"device_group"`
	// Device is the device of every frame when there is no device group.
	// Default: the only device declared.
	Device string `yaml:"device"`
	// Ignore is a regexp for frames that are fine but carry no points
	// (heartbeats); they count as frames, not garbage.
	Ignore string `yaml:"ignore"`
	// Points maps groups to points. At least one.
	Points []PointConf `yaml:"points"`
}

// JSONDecode decodes frames that are JSON objects.
type JSONDecode struct {
	// DeviceField is the dotted path of the device id. Default: none, and
	// then the frame belongs to Device.
	DeviceField string `yaml:"device_field"`
	// Device is the device of every frame when there is no device field.
	// Default: the only device declared.
	Device string `yaml:"device"`
	// Points maps fields to points. At least one.
	Points []PointConf `yaml:"points"`
}

// FieldConf is one binary field of a frame.
type FieldConf struct {
	// Offset is the byte offset in the frame (after the start bytes in
	// delimited mode; from the first byte in fixed mode).
	Offset int `yaml:"offset"`
	// Type is u8, i8, u16, i16, u32, i32 or f32. Default: u8.
	Type string `yaml:"type"`
	// Endian is big or little. Default: big.
	Endian string `yaml:"endian"`
	// Point is the point name. Required.
	Point string `yaml:"point"`
	// Unit of the reading.
	Unit string `yaml:"unit"`
	// Scale and ValueOffset: value = raw*scale + value_offset. Defaults 1, 0.
	Scale       *float64 `yaml:"scale"`
	ValueOffset float64  `yaml:"value_offset"`
}

// BinaryDecode decodes byte fields of binary frames.
type BinaryDecode struct {
	// Device is the device of every frame. Default: the only device declared.
	Device string `yaml:"device"`
	// Fields are the readings in each frame. At least one.
	Fields []FieldConf `yaml:"fields"`
}

var errNoDecoder = errors.New("no decoder")

func (d *Decode) compile(o *Options, ef errorf) (Mapper, error) {
	n := 0
	for _, set := range []bool{d.Regexp != nil, d.JSON != nil, d.Binary != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, ef("decode", "set exactly one of regexp, json, binary")
	}
	devs := newDeviceIndex(o.Devices)
	switch {
	case d.Regexp != nil:
		return compileRegexp(d.Regexp, devs, ef)
	case d.JSON != nil:
		return compileJSON(d.JSON, devs, ef)
	default:
		return compileBinary(d.Binary, devs, o.Framing, ef)
	}
}

func pointDefaults(pc *PointConf, name string, field string, ef errorf) error {
	if pc.Point == "" {
		pc.Point = name
	}
	if pc.Kind == "" {
		pc.Kind = "reading"
	}
	if pc.Kind != "reading" && pc.Kind != "state" {
		return ef(field+".kind", "unknown kind %q: want reading or state", pc.Kind)
	}
	if pc.Scale != nil && (math.IsNaN(*pc.Scale) || math.IsInf(*pc.Scale, 0)) {
		return ef(field+".scale", "not a finite number")
	}
	return nil
}

// deviceIndex resolves the id a frame carries to a configured device.
type deviceIndex struct {
	byMatch map[string]string
	ids     map[string]bool
	only    string
}

func newDeviceIndex(ds []DeviceConf) *deviceIndex {
	x := &deviceIndex{byMatch: map[string]string{}, ids: map[string]bool{}}
	for _, d := range ds {
		m := d.Match
		if m == "" {
			m = d.ID
		}
		x.byMatch[m] = d.ID
		x.ids[d.ID] = true
	}
	if len(ds) == 1 {
		x.only = ds[0].ID
	}
	return x
}

// fixed resolves the configured single device of a decoder.
func (x *deviceIndex) fixed(dev, field string, ef errorf) (string, error) {
	if dev == "" {
		if x.only == "" {
			return "", ef(field, "several devices are declared: name the device of these frames, or use a device group/field")
		}
		return x.only, nil
	}
	if !x.ids[dev] {
		return "", ef(field, "device %q is not declared under devices", dev)
	}
	return dev, nil
}

func compileRE(pattern, field string, ef errorf) (*regexp.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, ef(field, "bad regexp: %v", err)
	}
	return re, nil
}

var _ edge.Options = (edge.Options)(nil)

// Defaults fills the zero line settings with their defaults.
func (p *Port) Defaults() { p.defaults() }

// Validate checks the line settings; ef names the field (nil: plain errors).
func (p *Port) Validate(ef func(field, format string, args ...any) error) error {
	if ef == nil {
		ef = plainErrorf
	}
	return p.validate(ef)
}
