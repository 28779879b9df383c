package serial

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

func mustMapper(t testing.TB, o Options) Mapper {
	t.Helper()
	o.Port.Port = "/dev/null"
	o.Defaults()
	m, err := o.Decode.compile(&o, plainErrorf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func f64(v float64) *float64 { return &v }

var cameraOptions = Options{
	Devices: []DeviceConf{{ID: "cam3", Match: "CAM3", Location: "sunrise/b3"}, {ID: "CAM4"}},
	Decode: Decode{Regexp: &RegexpDecode{
		Pattern:     `^(?P<kind>ALARM|CLEAR),(?P<cam>\w+),(?P<state>[A-Z]+)(,T=(?P<temp>[-0-9.e+]+))?`,
		DeviceGroup: "cam",
		Ignore:      `^HB`,
		Points: []PointConf{
			{Group: "state", Point: "alarm", Kind: "state", Values: map[string]float64{"CLEAR": 0}},
			{Group: "temp", Point: "temperature", Unit: "C", Scale: f64(0.5), Offset: 1},
		},
	}},
}

func TestRegexpMapper(t *testing.T) {
	m := mustMapper(t, cameraOptions)
	tests := []struct {
		frame   string
		dev     string
		want    []edge.Event
		wantErr bool
	}{
		{"ALARM,CAM3,FALL,2026-11-29T10:00:00", "cam3", []edge.Event{edge.StateChange("cam3", "alarm", "FALL", 1)}, false},
		{"CLEAR,CAM4,CLEAR,T=20", "CAM4", []edge.Event{edge.StateChange("CAM4", "alarm", "CLEAR", 0), edge.Reading("CAM4", "temperature", 11, "C")}, false},
		{"ALARM,CAM9,FALL", "", nil, true},       // unknown device
		{"\xff\xfeALARM garbage", "", nil, true}, // no match
		{"HB,CAM3", "", nil, false},              // ignored heartbeat
	}
	for _, tc := range tests {
		got, dev, err := m.Map([]byte(tc.frame), nil)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v, want error %v", tc.frame, err, tc.wantErr)
			continue
		}
		if dev != tc.dev || len(got) != len(tc.want) {
			t.Errorf("%q: got %+v dev %q, want %+v dev %q", tc.frame, got, dev, tc.want, tc.dev)
			continue
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.Kind != w.Kind || g.Device != w.Device || g.Point != w.Point || g.Text != w.Text || g.Value != w.Value || g.Unit != w.Unit {
				t.Errorf("%q event %d: got %+v, want %+v", tc.frame, i, g, w)
			}
		}
	}
}

func TestStateOnChange(t *testing.T) {
	o := Options{Devices: []DeviceConf{{ID: "lid1"}}, Decode: Decode{Regexp: &RegexpDecode{
		Pattern: `^LID (?P<s>\w+)$`, Points: []PointConf{{Group: "s", Point: "lid", Kind: "state", OnChange: true}}}}}
	m := mustMapper(t, o)
	var n []int
	for _, f := range []string{"LID open", "LID open", "LID closed", "LID closed", "LID open"} {
		evs, _, err := m.Map([]byte(f), nil)
		if err != nil {
			t.Fatal(err)
		}
		n = append(n, len(evs))
	}
	if got, want := n, []int{1, 0, 1, 0, 1}; !equalInts(got, want) {
		t.Fatalf("events per frame: got %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var jsonOptions = Options{
	Devices: []DeviceConf{{ID: "bin1"}, {ID: "bin2", Match: "B-2"}},
	Decode: Decode{JSON: &JSONDecode{DeviceField: "meta.id", Points: []PointConf{
		{Field: "data.fill", Point: "fill", Unit: "%"},
		{Field: "lid", Point: "lid", Kind: "state"},
		{Field: "probes.1", Point: "p1"},
	}}},
}

func TestJSONMapper(t *testing.T) {
	m := mustMapper(t, jsonOptions)
	evs, dev, err := m.Map([]byte(`{"meta":{"id":"B-2"},"data":{"fill":72.5},"lid":"open","probes":[1,2.5]}`), nil)
	if err != nil || dev != "bin2" || len(evs) != 3 {
		t.Fatalf("got %+v %q %v", evs, dev, err)
	}
	if evs[0].Value != 72.5 || evs[0].Unit != "%" || evs[1].Text != "open" || evs[2].Value != 2.5 {
		t.Fatalf("got %+v", evs)
	}
	for _, bad := range []string{`{"meta":{"id":"nope"},"lid":"x"}`, `not json`, `{"meta":{"id":"bin1"}}`, `{"meta":{"id":"bin1"},"data":{"fill":"high"}}`, `[1,2]`} {
		if _, _, err := m.Map([]byte(bad), nil); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
	if _, _, err := m.Map([]byte(`{"meta":{"id":"bin1"}}`), nil); !errors.Is(err, ErrNoMatch) {
		t.Errorf("no fields: got %v, want ErrNoMatch", err)
	}
}

func binOptions() Options {
	return Options{
		Framing: Framing{Mode: "fixed", Length: 12, Sync: Bytes{0xAA}},
		Devices: []DeviceConf{{ID: "tank"}},
		Decode: Decode{Binary: &BinaryDecode{Fields: []FieldConf{
			{Offset: 1, Type: "u16", Point: "level", Scale: f64(0.1)},
			{Offset: 3, Type: "i16", Endian: "little", Point: "temp", Scale: f64(0.01), ValueOffset: -40},
			{Offset: 5, Type: "f32", Point: "f"},
			{Offset: 9, Type: "i8", Point: "i8"},
			{Offset: 10, Type: "u8", Point: "u8"},
		}}},
	}
}

func TestBinaryMapper(t *testing.T) {
	m := mustMapper(t, binOptions())
	fr := make([]byte, 12)
	fr[0] = 0xAA
	binary.BigEndian.PutUint16(fr[1:], 1234)
	neg := int16(-500)
	binary.LittleEndian.PutUint16(fr[3:], uint16(neg))
	binary.BigEndian.PutUint32(fr[5:], math.Float32bits(3.5))
	fr[9] = 0xFF
	fr[10] = 200
	evs, dev, err := m.Map(fr, nil)
	if err != nil || dev != "tank" || len(evs) != 5 {
		t.Fatalf("got %+v %q %v", evs, dev, err)
	}
	want := []float64{123.4, -45, 3.5, -1, 200}
	for i, w := range want {
		if math.Abs(evs[i].Value-w) > 1e-9 {
			t.Errorf("%s: got %v, want %v", evs[i].Point, evs[i].Value, w)
		}
	}
	if _, _, err := m.Map(fr[:4], nil); err == nil {
		t.Error("short frame: want an error")
	}
	binary.BigEndian.PutUint32(fr[5:], math.Float32bits(float32(math.NaN())))
	if _, _, err := m.Map(fr, nil); err == nil {
		t.Error("NaN f32: want an error")
	}
}

func TestOptionsErrorsNameField(t *testing.T) {
	base := func() Options {
		o := cameraOptions
		o.Port.Port = "/dev/ttyUSB0"
		return o
	}
	tests := []struct {
		mod   func(*Options)
		field string
	}{
		{func(o *Options) { o.Port.Port = "" }, "port"},
		{func(o *Options) { o.Baud = 3 }, "baud"},
		{func(o *Options) { o.Parity = "weird" }, "parity"},
		{func(o *Options) { o.StopBits = 3 }, "stop_bits"},
		{func(o *Options) { o.DataBits = 9 }, "data_bits"},
		{func(o *Options) { o.Framing.Mode = "ring" }, "framing.mode"},
		{func(o *Options) { o.Framing.Mode = "fixed" }, "framing.length"},
		{func(o *Options) { o.Devices = nil }, "devices"},
		{func(o *Options) { o.Devices = []DeviceConf{{ID: "a"}, {ID: "a"}} }, "devices[1].id"},
		{func(o *Options) { o.Decode = Decode{} }, "decode"},
		{func(o *Options) {
			r := *o.Decode.Regexp
			r.Pattern = "(unclosed"
			o.Decode.Regexp = &r
		}, "decode.regexp.pattern"},
		{func(o *Options) {
			r := *o.Decode.Regexp
			r.DeviceGroup = "nope"
			o.Decode.Regexp = &r
		}, "decode.regexp.device_group"},
		{func(o *Options) {
			r := *o.Decode.Regexp
			r.Points = []PointConf{{Group: "state", Kind: "level"}}
			o.Decode.Regexp = &r
		}, "decode.regexp.points[0].kind"},
		{func(o *Options) {
			o.Decode = Decode{Binary: &BinaryDecode{Fields: []FieldConf{{Offset: 0, Type: "u64", Point: "x"}}}}
		}, "decode.binary.device"},
	}
	for _, tc := range tests {
		o := base()
		tc.mod(&o)
		_, err := NewDriver(edge.Env{}, o, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("got %v, want an error naming %s", err, tc.field)
		}
	}
}

func FuzzRegexpMapper(f *testing.F) {
	f.Add([]byte("ALARM,CAM3,FALL,2026-11-29T10:00:00"))
	f.Add([]byte("CLEAR,CAM4,CLEAR,T=1e308"))
	f.Add([]byte("ALARM,CAM3,X,NaN"))
	f.Add([]byte("\xff\x00ALARM,,,"))
	m := mustMapper(f, cameraOptions)
	f.Fuzz(func(t *testing.T, frame []byte) {
		evs, dev, err := m.Map(frame, nil)
		checkEvents(t, evs, dev, err)
	})
}

func FuzzJSONMapper(f *testing.F) {
	f.Add([]byte(`{"meta":{"id":"B-2"},"data":{"fill":72.5},"lid":"open","probes":[1,2.5]}`))
	f.Add([]byte(`{"meta":{"id":"bin1"},"data":{"fill":1e999}}`))
	f.Add([]byte(`{"meta":{"id":"bin1"},"lid":true,"probes":{"1":3}}`))
	f.Add([]byte(`{"meta":[1],"data":null}`))
	m := mustMapper(f, jsonOptions)
	f.Fuzz(func(t *testing.T, frame []byte) {
		evs, dev, err := m.Map(frame, nil)
		checkEvents(t, evs, dev, err)
	})
}

func FuzzBinaryMapper(f *testing.F) {
	f.Add([]byte("\xaa\x04\xd2\x0c\xfe\x40\x60\x00\x00\xff\xc8\x00"))
	f.Add([]byte("\xaa\x00"))
	f.Add([]byte("\xaa\x00\x00\x00\x00\x7f\xc0\x00\x00\x00\x00\x00"))
	m := mustMapper(f, binOptions())
	f.Fuzz(func(t *testing.T, frame []byte) {
		evs, dev, err := m.Map(frame, nil)
		checkEvents(t, evs, dev, err)
		if err == nil && len(evs) != 5 {
			t.Fatalf("got %d events, want 5", len(evs))
		}
	})
}

// checkEvents holds for every mapper result: events name a declared device
// and carry finite values; a failed frame yields no events.
func checkEvents(t *testing.T, evs []edge.Event, dev string, err error) {
	t.Helper()
	if err != nil && len(evs) != 0 {
		t.Fatalf("error %v with events %+v", err, evs)
	}
	for _, e := range evs {
		if e.Device == "" || e.Device != dev {
			t.Fatalf("event %+v names device %q, mapper said %q", e, e.Device, dev)
		}
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
			t.Fatalf("event %+v: value not finite", e)
		}
	}
}
