package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The scanner takes exactly what encoding/json takes, to the same document,
// or leaves the input to encoding/json.
func TestScanBatchDoc(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		scan bool // the fast path takes it
	}{
		{"encoded", string(EncodeBatch(sampleEvents())), true},
		{"readings", string(EncodeBatch(simReadings(3, 50))), true},
		{"empty", string(EncodeBatch(nil)), true},
		{"spaces", " {\n\"version\" : 1 ,\"n\":1,\"strings\":[\"\", \"r\"] ,\"epochs\":[\"1\"],\"seq\":[ 1 ],\"ts\":[-5],\"kind\":[1],\"v\":[1.5e-3]}\t", true},
		{"ext and vx", `{"version":1,"n":1,"strings":["","r"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"vx":[{"i":0,"v":"NaN"}],"ext":[{"i":0,"alert":{"id":"a]}\"","rule":"x"}}]}`, true},
		{"located", `{"version":1,"n":1,"strings":["","r","3/2/101"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"loc":[2]}`, true},
		{"unknown member", `{"version":1,"where":[1]}`, false},
		{"other case", `{"Version":1}`, false},
		{"twice", `{"version":1,"version":1}`, false},
		{"escape", `{"strings":["a\"b"]}`, false},
		{"null", `{"seq":null}`, false},
		{"float in int column", `{"seq":[1.0]}`, false},
		{"exponent in int column", `{"seq":[1e3]}`, false},
		{"leading zero", `{"seq":[01]}`, false},
		{"int overflow", `{"seq":[9223372036854775808]}`, false},
		{"int min", `{"seq":[-9223372036854775808]}`, true},
		{"trailing", `{"n":1} x`, false},
		{"trailing comma", `{"seq":[1,]}`, false},
		{"truncated", `{"seq":[1`, false},
		{"bad utf8", "{\"strings\":[\"\xff\"]}", false},
		{"float overflow", `{"v":[1e999]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got batchDoc
			scanned := scanBatchDoc([]byte(tc.in), &got)
			if scanned != tc.scan {
				t.Fatalf("got scanned %v, want %v", scanned, tc.scan)
			}
			if !scanned {
				return
			}
			var want batchDoc
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil {
				t.Fatalf("scanned what encoding/json refuses: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func FuzzScanBatchDoc(f *testing.F) {
	f.Add(EncodeBatch(sampleEvents()))
	f.Add(EncodeBatch(simReadings(3, 10)))
	f.Add(EncodeBatch(anchoredEvents()))
	f.Add([]byte(`{"version":1,"n":1,"strings":["","r"],"epochs":["1"],"seq":[1],"ts":[0],"kind":[1],"vx":[{"i":0,"v":"NaN"}],"ext":[{"i":0,"alert":{"id":"a"}}]}`))
	f.Add([]byte(`{"seq":[-0, 1e3, 01]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got batchDoc
		if !scanBatchDoc(data, &got) {
			return
		}
		var want batchDoc
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("scanned what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}

// BenchmarkBatchDoc compares encoding/json with the scanner on a batch of
// 5,000 readings (the uplink's default batch) in one run.
func BenchmarkBatchDoc(b *testing.B) {
	data := EncodeBatch(simReadings(7, 5000))
	for _, bc := range []struct {
		name   string
		decode func([]byte, *batchDoc) error
	}{
		{"encoding-json", func(d []byte, v *batchDoc) error { return json.Unmarshal(d, v) }},
		{"scan", decodeBatchDoc},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var d batchDoc
				if err := bc.decode(data, &d); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
