package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var t0 = time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)

// sampleEvents is a small batch with every field and kind in use.
func sampleEvents() []Event {
	return []Event{
		{Epoch: 9876543210123456789, Seq: 41, Time: t0, ClockTrusted: true, Kind: KindAlert, Priority: 3,
			Device: "door-3-2-101", Point: "contact", Text: "door open",
			Alert: &Alert{ID: "door-open/door-3-2-101/40", Rule: "door-open", State: AlertFiring, Severity: "high", Message: "door open 5 min", Cause: 40}},
		{Epoch: 9876543210123456789, Seq: 1, Time: t0.Add(-time.Minute), ClockTrusted: true, Kind: KindReading,
			Device: "temp-1", Point: "temperature", Value: 21.5, Unit: "°C"},
		{Epoch: 9876543210123456789, Seq: 2, Time: t0.Add(-time.Minute + 1500*time.Millisecond), Kind: KindReading,
			Device: "temp-1", Point: "temperature", Value: math.NaN(), Unit: "°C", Quality: 2},
		{Epoch: 9876543210123456789, Seq: 3, Time: t0.Add(-50 * time.Second), ClockTrusted: true, Kind: KindStatus, Priority: 1,
			Device: "modbus-1", Online: BoolPtr(false), Text: "read timeout"},
		{Epoch: 9876543210123456789, Seq: 4, Time: t0.Add(-49 * time.Second), ClockTrusted: true, Kind: KindStatus, Priority: 1,
			Device: "modbus-1", Online: BoolPtr(true)},
		{Epoch: 17, Seq: 5, Time: t0.Add(-40 * time.Second), ClockTrusted: true, Kind: KindGap, Priority: 3,
			Gap: &Gap{Epoch: 17, From: 100, To: 199, Count: 100, Reason: "evicted: store cap"}},
		{Epoch: 9876543210123456789, Seq: 6, Time: t0.Add(-30 * time.Second), ClockTrusted: true, Kind: KindAction, Priority: 1,
			Action: &Action{Rule: "door-open", Output: "siren", Result: "failed", Error: "write timeout \"x\"\n"}},
		{Epoch: 9876543210123456789, Seq: 7, Time: t0.Add(-20 * time.Second), ClockTrusted: true, Kind: "future-kind", Priority: 2,
			Device: "cam", Point: "alarm", Text: "FALL", Value: math.Inf(-1)},
		{Epoch: 9876543210123456789, Seq: 8, Kind: KindReading, Device: "zero-time", Value: -1e300},
	}
}

// equalEvents compares events, NaN equal to NaN and times by instant.
func equalEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time.Truncate(time.Millisecond)) {
			t.Errorf("event %d: time %v, want %v", i, g.Time, w.Time)
		}
		if math.IsNaN(w.Value) && math.IsNaN(g.Value) {
			g.Value, w.Value = 0, 0
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	events := sampleEvents()
	got, err := DecodeBatch(EncodeBatch(events))
	if err != nil {
		t.Fatal(err)
	}
	equalEvents(t, got, events)

	body, err := GzipBatch(events)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ReadBatch(bytes.NewReader(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	equalEvents(t, got, events)

	got, err = DecodeBatch(EncodeBatch(nil))
	if err != nil || len(got) != 0 {
		t.Fatalf("empty batch: got %v, %v", got, err)
	}
}

// TestBatchGolden pins the encoding: a change here is a protocol change.
func TestBatchGolden(t *testing.T) {
	cases := map[string][]Event{
		"sample":   sampleEvents(),
		"readings": simReadings(1, 20),
		"empty":    nil,
		"located":  locatedEvents(),
	}
	for name, events := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name+".json")
			got := EncodeBatch(events)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("encoding changed:\n got %s\nwant %s", got, want)
			}
			dec, err := DecodeBatch(want)
			if err != nil {
				t.Fatal(err)
			}
			equalEvents(t, dec, events)
		})
	}
}

// simReadings makes n readings of a compound's simulated sensors, in the
// order the gateway's log would hold them.
func simReadings(seed uint64, n int) []Event {
	r := rand.New(rand.NewPCG(seed, seed))
	type pt struct {
		dev, point, unit string
		base, spread     float64
		decimals         int
	}
	var pts []pt
	for b := 1; b <= 6; b++ {
		pts = append(pts,
			pt{fmt.Sprintf("b%d-temp", b), "temperature", "°C", 22, 3, 1},
			pt{fmt.Sprintf("b%d-temp", b), "humidity", "%", 55, 10, 1},
			pt{fmt.Sprintf("b%d-water", b), "level", "cm", 12, 4, 1},
			pt{fmt.Sprintf("b%d-smoke", b), "smoke", "ppm", 3, 2, 0},
			pt{fmt.Sprintf("bin-%d", b), "fill", "%", 40, 30, 0},
		)
	}
	events := make([]Event, n)
	ts := t0
	for i := range events {
		p := pts[i%len(pts)]
		if i%len(pts) == 0 {
			ts = ts.Add(time.Second)
		}
		scale := math.Pow(10, float64(p.decimals))
		v := math.Round((p.base+(r.Float64()-0.5)*p.spread)*scale) / scale
		events[i] = Event{Epoch: 0x5eed5eed5eed5eed, Seq: uint64(i + 1), Time: ts.Add(time.Duration(r.IntN(40)) * time.Millisecond),
			ClockTrusted: true, Kind: KindReading, Device: p.dev, Point: p.point, Value: v, Unit: p.unit}
	}
	return events
}

// locatedEvents are events of a gateway that sends its devices' locations:
// two buildings, and a gap of the gateway itself (no device, no location).
func locatedEvents() []Event {
	return []Event{
		{Epoch: 5, Seq: 1, Time: t0, ClockTrusted: true, Kind: KindState, Priority: 2,
			Device: "door-3-2-301", Point: "contact", Text: "open", Value: 1, Location: "cp07/3/2/301"},
		{Epoch: 5, Seq: 2, Time: t0.Add(time.Second), ClockTrusted: true, Kind: KindAlert, Priority: 3,
			Device: "door-3-2-301", Location: "cp07/3/2/301",
			Alert: &Alert{ID: "door/door-3-2-301/1", Rule: "door", State: AlertFiring, Severity: "high", Message: "door open", Cause: 1}},
		{Epoch: 5, Seq: 3, Time: t0.Add(2 * time.Second), ClockTrusted: true, Kind: KindReading,
			Device: "temp-5", Point: "temperature", Value: 21.5, Unit: "°C", Location: "cp07/5"},
		{Epoch: 5, Seq: 4, Time: t0.Add(3 * time.Second), ClockTrusted: true, Kind: KindGap, Priority: 3,
			Gap: &Gap{Epoch: 5, From: 10, To: 12, Count: 3, Reason: "evicted: store cap"}},
	}
}

// anchoredEvents are events of a gateway that anchors them in its boot:
// two boots (a restart inside the batch) and one event without an anchor.
func anchoredEvents() []Event {
	const b1, b2 = "6f0c2d1e-8a4b-4c5d-9e6f-0a1b2c3d4e5f", "p-Z2H7QK3M4N5P6R7S8T9V0W1X2Y"
	return []Event{
		{Epoch: 5, Seq: 1, Time: time.UnixMilli(1000).UTC(), Kind: KindReading, Device: "t1", Value: 1, Boot: b1, MonoMillis: 41_000},
		{Epoch: 5, Seq: 2, Time: time.UnixMilli(2000).UTC(), Kind: KindReading, Device: "t1", Value: 2, Boot: b1, MonoMillis: 42_000},
		{Epoch: 5, Seq: 3, Time: t0, ClockTrusted: true, Kind: KindGap, Gap: &Gap{Epoch: 5, From: 1, To: 1, Count: 1, Reason: "lost: x"}},
		{Epoch: 5, Seq: 4, Time: time.UnixMilli(500).UTC(), Kind: KindState, Device: "door", Text: "open", Value: 1, Boot: b2, MonoMillis: 7},
	}
}

// TestBatchBootColumns: the boot and mono columns carry each event's boot
// anchor (boot: string-table index, mono: milliseconds), round trip
// through both decoders, and are left out when no event has an anchor.
func TestBatchBootColumns(t *testing.T) {
	evs := anchoredEvents()
	raw := EncodeBatch(evs)
	// mono is carried as mono − ts, delta-encoded: 41000−1000, then 0 (both
	// advanced 1 s), then the boot-less event (mono 0), then the new boot.
	t0ms := t0.UnixMilli()
	wantMono := fmt.Sprintf(`"mono":[40000,0,%d,%d]`, -t0ms-40000, t0ms-493)
	if !bytes.Contains(raw, []byte(`"boot":[3,3,0,8]`)) || !bytes.Contains(raw, []byte(wantMono)) {
		t.Errorf("got %s, want columns boot [3,3,0,8] and %s", raw, wantMono)
	}
	steady := EncodeBatch(anchoredReadings(7, 100))
	if want := fmt.Sprintf(`"mono":[%d,0,0,0,`, 3_600_000-t0ms); !bytes.Contains(steady, []byte(want)) {
		t.Errorf("a steady clock: got %s, want %s then zeros", steady, want)
	}
	got, err := DecodeBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	equalEvents(t, got, evs)
	var scanned, slow batchDoc
	if !scanBatchDoc(raw, &scanned) {
		t.Fatal("the fast decoder refused the boot columns")
	}
	if err := json.Unmarshal(raw, &slow); err != nil || !reflect.DeepEqual(scanned, slow) {
		t.Fatalf("fast and encoding/json decoders differ: %+v / %+v (%v)", scanned, slow, err)
	}
	if bytes.Contains(EncodeBatch(sampleEvents()), []byte(`"boot"`)) {
		t.Error("a batch without anchors has a boot column")
	}
	// An old gateway's batch (no columns) decodes without anchors.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "boot")
	delete(doc, "mono")
	old, _ := json.Marshal(doc)
	got, err = DecodeBatch(old)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].Boot, evs[i].MonoMillis = "", 0
	}
	equalEvents(t, got, evs)
}

// TestBatchLocationCompat: the loc column is optional both ways. A batch
// of an old gateway (no loc) decodes with no locations; a new batch read by
// an old central, which ignores members it does not know, loses only the
// locations (simulated by a document type without the column).
func TestBatchLocationCompat(t *testing.T) {
	located := EncodeBatch(locatedEvents())
	if !bytes.Contains(located, []byte(`"loc":[5,5,11,0]`)) {
		t.Errorf("located batch: got %s, want a loc column [5,5,11,0]", located)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(located, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "loc")
	old, _ := json.Marshal(doc)
	got, err := DecodeBatch(old)
	if err != nil {
		t.Fatalf("batch without loc: %v", err)
	}
	want := locatedEvents()
	for i := range want {
		want[i].Location = ""
	}
	equalEvents(t, got, want)
	if bytes.Contains(EncodeBatch(want), []byte(`"loc"`)) {
		t.Error("a batch without locations has a loc column")
	}

	// An old central decoded batches into the same document without Loc.
	var oldDoc struct {
		Version int      `json:"version"`
		N       int      `json:"n"`
		Strings []string `json:"strings"`
		Kind    []int    `json:"kind"`
	}
	dec := json.NewDecoder(bytes.NewReader(located)) // no DisallowUnknownFields: unknown members are ignored
	if err := dec.Decode(&oldDoc); err != nil || oldDoc.N != 4 {
		t.Errorf("old central's decoding: got n=%d, %v", oldDoc.N, err)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	cases := map[string]string{
		"not json":              `{"version":1,`,
		"wrong version":         `{"version":2,"n":0,"strings":[""],"epochs":[]}`,
		"no strings":            `{"version":1,"n":0,"strings":[],"epochs":[]}`,
		"strings[0] not empty":  `{"version":1,"n":0,"strings":["x"],"epochs":[]}`,
		"negative n":            `{"version":1,"n":-1,"strings":[""],"epochs":[]}`,
		"huge n":                `{"version":1,"n":99999999,"strings":[""],"epochs":["1"]}`,
		"short seq":             `{"version":1,"n":2,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0,0],"kind":[1,1]}`,
		"missing kind":          `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0]}`,
		"kind out of range":     `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[2]}`,
		"no epochs":             `{"version":1,"n":1,"strings":["","reading"],"epochs":[],"seq":[1],"ts":[0],"kind":[1]}`,
		"bad epoch":             `{"version":1,"n":1,"strings":["","reading"],"epochs":["-1"],"seq":[1],"ts":[0],"kind":[1]}`,
		"epoch idx":             `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"epoch":[1],"seq":[1],"ts":[0],"kind":[1]}`,
		"online 3":              `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"online":[3]}`,
		"short v":               `{"version":1,"n":2,"strings":["","reading"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"v":[1]}`,
		"ext out of range":      `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"ext":[{"i":1,"gap":{}}]}`,
		"ext twice":             `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"ext":[{"i":0,"gap":{}},{"i":0,"gap":{}}]}`,
		"vx bad":                `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"vx":[{"i":0,"v":"7"}]}`,
		"seq not int":           `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1.5],"ts":[0],"kind":[1]}`,
		"loc out of range":      `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"loc":[2]}`,
		"short loc":             `{"version":1,"n":2,"strings":["","reading"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"loc":[0]}`,
		"boot out of range":     `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"boot":[2],"mono":[1]}`,
		"short mono":            `{"version":1,"n":2,"strings":["","reading","b"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"boot":[2,2],"mono":[1]}`,
		"mono without boot":     `{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"mono":[1]}`,
		"negative mono":         `{"version":1,"n":1,"strings":["","reading","b"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"boot":[2],"mono":[-1]}`,
		"mono below 0":          `{"version":1,"n":2,"strings":["","reading","b"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"boot":[2,2],"mono":[5,-6]}`,
		"mono overflow":         `{"version":1,"n":2,"strings":["","reading","b"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"boot":[2,2],"mono":[9223372036854775807,1]}`,
		"mono plus ts overflow": `{"version":1,"n":1,"strings":["","reading","b"],"epochs":["1"],"seq":[1],"ts":[9223372036854775807],"kind":[1],"boot":[2],"mono":[1]}`,
		"mono without a boot":   `{"version":1,"n":2,"strings":["","reading","b"],"epochs":["1"],"seq":[1,1],"ts":[0,0],"kind":[1,1],"boot":[2,0],"mono":[5,0]}`,
		"boot too long":         `{"version":1,"n":1,"strings":["","reading","` + strings.Repeat("b", MaxBoot+1) + `"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"boot":[2]}`,
		"loc too long":          `{"version":1,"n":1,"strings":["","reading","` + strings.Repeat("b", MaxLocation+1) + `"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"loc":[2]}`,
	}
	for name, in := range cases {
		if _, err := DecodeBatch([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestReadBatchLimits(t *testing.T) {
	if _, err := ReadBatch(strings.NewReader("not gzip"), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("not gzip: got %v, want ErrMalformed", err)
	}
	// A gzip bomb: 10 MiB of zeros in a few kB.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	if _, err := ReadBatch(bytes.NewReader(buf.Bytes()), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzip bomb: got %v, want ErrTooLarge", err)
	}
}

// TestWireSize reports the bytes per reading of a realistic batch; the
// target (≤ 20 B) is checked by the benchmark figure, the ceiling here only
// catches a broken encoder.
func TestWireSize(t *testing.T) {
	events := simReadings(7, 5000)
	body, err := GzipBatch(events)
	if err != nil {
		t.Fatal(err)
	}
	per := float64(len(body)) / float64(len(events))
	t.Logf("5000 readings: %d bytes gzip, %.2f B/reading", len(body), per)
	if per > 20 {
		t.Errorf("got %.2f B/reading, want ≤ 20", per)
	}
}

func BenchmarkGzipBatch(b *testing.B) {
	events := simReadings(7, 5000)
	var size int
	for b.Loop() {
		body, _ := GzipBatch(events)
		size = len(body)
	}
	b.ReportMetric(float64(size)/float64(len(events)), "B/reading")
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkReadBatch(b *testing.B) {
	events := simReadings(7, 5000)
	body, _ := GzipBatch(events)
	for b.Loop() {
		if _, err := ReadBatch(bytes.NewReader(body), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// anchoredReadings are simReadings of a gateway that anchors its events in
// a boot that started an hour before t0.
func anchoredReadings(seed uint64, n int) []Event {
	events := simReadings(seed, n)
	for i := range events {
		events[i].Boot = "6f0c2d1e-8a4b-4c5d-9e6f-0a1b2c3d4e5f"
		events[i].MonoMillis = events[i].Time.Sub(t0).Milliseconds() + 3_600_000
	}
	return events
}

// BenchmarkGzipBatchAnchored is BenchmarkGzipBatch with boot anchors (the
// boot and mono columns).
func BenchmarkGzipBatchAnchored(b *testing.B) {
	events := anchoredReadings(7, 5000)
	var size int
	for b.Loop() {
		body, _ := GzipBatch(events)
		size = len(body)
	}
	b.ReportMetric(float64(size)/float64(len(events)), "B/reading")
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReadBatchAnchored is BenchmarkReadBatch with boot anchors.
func BenchmarkReadBatchAnchored(b *testing.B) {
	events := anchoredReadings(7, 5000)
	body, _ := GzipBatch(events)
	for b.Loop() {
		if _, err := ReadBatch(bytes.NewReader(body), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch(sampleEvents()))
	f.Add(EncodeBatch(simReadings(3, 10)))
	f.Add(EncodeBatch(nil))
	f.Add(EncodeBatch(locatedEvents()))
	f.Add(EncodeBatch(anchoredEvents()))
	f.Add([]byte(`{"version":1,"n":1,"strings":["","reading"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"ext":[{"i":0,"alert":{"id":"a"}}]}`))
	f.Add([]byte(`{"version":1,"n":1,"strings":[""],"epochs":["1"],"seq":[-1],"ts":[-9223372036854775808],"kind":[0],"vx":[{"i":0,"v":"NaN"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same events.
		again, err := DecodeBatch(EncodeBatch(events))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		equalEvents(t, again, events)
	})
}

func TestEventJSON(t *testing.T) {
	events := sampleEvents()
	for i := range events {
		events[i].Time = events[i].Time.Truncate(time.Millisecond)
	}
	js, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"epoch":"9876543210123456789"`) || !strings.Contains(string(js), `"v":"NaN"`) {
		t.Errorf("unexpected JSON %s", js)
	}
	var got []Event
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	equalEvents(t, got, events)
	var e Event
	if err := json.Unmarshal([]byte(`{"seq":1,"v":"many"}`), &e); err == nil {
		t.Error("bad value accepted")
	}
	// A time RFC 3339 cannot carry (a broken clock) still marshals, and
	// comes back.
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.UnixMilli(math.MinInt64 / 2).UTC(), time.UnixMilli(math.MaxInt64).UTC()} {
		in := Event{Seq: 7, Time: tm, Kind: KindAlert, Value: math.Inf(-1), Alert: &Alert{ID: "a"}}
		js, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("time %d ms: %v", tm.UnixMilli(), err)
		}
		var out Event
		if err := json.Unmarshal(js, &out); err != nil {
			t.Fatalf("time %d ms: %s: %v", tm.UnixMilli(), js, err)
		}
		if !out.Time.Equal(tm) || !math.IsInf(out.Value, -1) || out.Alert == nil {
			t.Errorf("time %d ms: got %+v from %s", tm.UnixMilli(), out, js)
		}
	}
}

// costlyShapes are batches that cost DecodeBatch the most memory per byte:
// minimal columns, empty strings, empty payload objects.
func costlyShapes() map[string][]byte {
	const n = 50000
	col := func() string { return strings.TrimSuffix(strings.Repeat("0,", n), ",") }
	list := func(elem string, k int) string { return strings.TrimSuffix(strings.Repeat(elem+",", k), ",") }
	one := `{"version":1,"n":1,"strings":[""],"epochs":["1"],"seq":[0],"ts":[0],"kind":[0]`
	return map[string][]byte{
		"realistic": EncodeBatch(simReadings(7, 5000)),
		"sample":    EncodeBatch(sampleEvents()),
		"required columns": []byte(fmt.Sprintf(`{"version":1,"n":%d,"strings":[""],"epochs":["1"],"seq":[%s],"ts":[%s],"kind":[%s]}`,
			n, col(), col(), col())),
		"every column": []byte(fmt.Sprintf(`{"version":1,"n":%d,"strings":[""],"epochs":["1"],"epoch":[%s],"seq":[%s],"ts":[%s],"untrusted":[%s],"kind":[%s],"prio":[%s],"dev":[%s],"pt":[%s],"v":[%s],"unit":[%s],"q":[%s],"text":[%s],"online":[%s]}`,
			n, col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col())),
		"empty strings":  []byte(`{"version":1,"n":0,"strings":[""` + strings.Repeat(`,""`, n) + `],"epochs":[]}`),
		"epochs":         []byte(`{"version":1,"n":0,"strings":[""],"epochs":["1"` + strings.Repeat(`,"1"`, n) + `]}`),
		"empty ext":      []byte(one + `,"ext":[` + list(`{}`, n) + `]}`),
		"ext alerts":     []byte(one + `,"ext":[` + list(`{"alert":{}}`, n) + `]}`),
		"ext all":        []byte(one + `,"ext":[` + list(`{"gap":{},"alert":{},"action":{}}`, n) + `]}`),
		"empty vx":       []byte(one + `,"vx":[` + list(`{}`, n) + `]}`),
		"vx":             []byte(one + `,"vx":[` + list(`{"i":0,"v":"NaN"}`, n) + `]}`),
		"one big string": []byte(`{"version":1,"n":0,"strings":["","` + strings.Repeat("x", 1<<20) + `"],"epochs":[]}`),
		"whitespace":     []byte(`{"version":1,"n":0,"strings":[""],"epochs":[]}` + strings.Repeat(" ", 1<<20)),
	}
}

// TestDecodeCost checks that DecodeCost bounds what DecodeBatch allocates
// (all of it, garbage included) on the costliest shapes, so a receiver that
// counts it against its memory budget cannot be surprised.
func TestDecodeCost(t *testing.T) {
	for name, raw := range costlyShapes() {
		runtime.GC()
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		DecodeBatch(raw)
		runtime.ReadMemStats(&b)
		got, limit := b.TotalAlloc-a.TotalAlloc, DecodeCost(raw)
		if int64(got) > limit {
			t.Errorf("%s (%d bytes): DecodeBatch allocated %d bytes, over DecodeCost %d", name, len(raw), got, limit)
		}
	}
}

func TestGunzipLimits(t *testing.T) {
	bomb := gz(t, make([]byte, 10<<20)) // 10 MiB of zeros in a few kB
	var reserved int64
	count := func(n int64) error { reserved += n; return nil }
	if _, err := Gunzip(bomb, 1<<20, count); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzip bomb: got %v, want ErrTooLarge", err)
	}
	if reserved != 0 {
		t.Errorf("gzip bomb: reserved %d bytes, want none (its trailer says it is too large)", reserved)
	}
	// The same bomb with a trailer that lies: it costs the size declared.
	liar := bytes.Clone(bomb)
	binary.LittleEndian.PutUint32(liar[len(liar)-4:], 1000)
	if _, err := Gunzip(liar, 1<<20, count); !errors.Is(err, ErrMalformed) {
		t.Errorf("lying trailer: got %v, want ErrMalformed", err)
	}
	if reserved != 1001 {
		t.Errorf("lying trailer: reserved %d bytes, want 1001", reserved)
	}
	errBudget := errors.New("over budget")
	if _, err := Gunzip(bomb, 16<<20, func(n int64) error { return errBudget }); !errors.Is(err, errBudget) {
		t.Errorf("reserve refusing: got %v, want its error", err)
	}
	raw := EncodeBatch(simReadings(1, 100))
	reserved = 0
	got, err := Gunzip(gz(t, raw), 0, count)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("round trip: got %d bytes, %v", len(got), err)
	}
	if reserved != int64(len(raw))+1 {
		t.Errorf("reserved %d, want %d", reserved, len(raw)+1)
	}
	two := append(gz(t, raw), gz(t, raw)...)
	if _, err := Gunzip(two, 0, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("two members: got %v, want ErrMalformed", err)
	}
	for _, cut := range []int{0, 10, 40} {
		if _, err := Gunzip(gz(t, raw)[:cut], 0, nil); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("gzip cut at %d: got %v, want ErrMalformed", cut, err)
		}
	}
}

func gz(t testing.TB, raw []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}
