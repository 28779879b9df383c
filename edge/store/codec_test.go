package store

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

func codecSamples() []edge.Event {
	on, off := true, false
	ts := time.Unix(1_700_000_000, 123456789)
	return []edge.Event{
		{},
		{Epoch: 7, Seq: 1, Time: ts, ClockTrusted: true, Kind: edge.KindReading, Device: "t1", Point: "temp", Value: -12.25, Unit: "C", Quality: edge.QualityUncertain},
		{Epoch: 7, Seq: 2, Time: ts, Kind: edge.KindState, Priority: edge.PriorityHigh, Device: "door-1", Point: "contact", Text: "open", Value: 1},
		{Kind: edge.KindStatus, Online: &on, Text: "connected"},
		{Kind: edge.KindStatus, Online: &off, Text: "port gone"},
		{Kind: edge.KindAlert, Priority: edge.PriorityAlert, Alert: &edge.Alert{ID: "r/d/9", Rule: "door", State: edge.AlertAcknowledged, Severity: "high", Message: "门开了", By: "local:ops", Cause: 9}},
		{Kind: edge.KindGap, Gap: &edge.Gap{Epoch: 1 << 63, From: 1, To: 1 << 40, Count: 12345, Reason: GapReasonCap}},
		{Kind: edge.KindAction, Action: &edge.ActionRecord{Rule: "r", Output: "siren", Result: "failed", Error: "timeout"}},
		{Epoch: 7, Seq: 3, Time: ts, Kind: edge.KindState, Device: "door-1", Text: "open", Value: 1, Location: "sunrise/b3/u1/1201"},
		{Kind: edge.KindAlert, Device: "door-1", Location: "阳光/3号楼", Alert: &edge.Alert{ID: "r/d/9", Rule: "door", State: edge.AlertFiring}},
		{Kind: edge.KindAction, Location: "c1", Action: &edge.ActionRecord{Result: "ok"}},
		{Epoch: 7, Seq: 4, Time: time.Unix(0, 0), Kind: edge.KindReading, Device: "t1", Value: 3,
			Boot: "0b1d8c52-7a3e-4c2b-9e55-2f0d6c1a9b77", Mono: 93*time.Second + 250*time.Millisecond},
		{Kind: edge.KindAlert, Location: "c1", Boot: "b", Alert: &edge.Alert{ID: "x", State: edge.AlertFiring}},
	}
}

// TestCodecBootAnchor: an event with a boot anchor is a v2 record, its v1
// bytes followed by the anchor; one without stays v1, so a build before
// the anchor still reads it.
func TestCodecBootAnchor(t *testing.T) {
	ev := edge.Event{Epoch: 7, Seq: 2, Time: time.Unix(1_700_000_000, 0), Kind: edge.KindState, Device: "door-1", Text: "open", Value: 1}
	v1 := Encode(nil, &ev)
	if v1[0] != codecV1 {
		t.Fatalf("no anchor: version %d, want %d", v1[0], codecV1)
	}
	ev.Boot, ev.Mono = "boot-1", 1500*time.Millisecond+999*time.Microsecond
	v2 := Encode(nil, &ev)
	if v2[0] != codecV2 || string(v2[1:len(v1)]) != string(v1[1:]) {
		t.Fatalf("anchor: got %x, want 02 + %x + anchor", v2, v1[1:])
	}
	if want := append([]byte{}, "\x06boot-1\xdc\x0b"...); string(v2[len(v1):]) != string(want) {
		t.Errorf("anchor bytes: got %x, want %x", v2[len(v1):], want)
	}
	got, err := Decode(v2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Boot != "boot-1" || got.Mono != 1500*time.Millisecond {
		t.Errorf("decoded anchor %q %v, want boot-1 1.5s (ms precision)", got.Boot, got.Mono)
	}
	if p, ok := recordPriority(v2); !ok || p != ev.Priority {
		t.Errorf("recordPriority(v2) = %v %v", p, ok)
	}
	if !recordTime(v2).Equal(ev.Time) {
		t.Errorf("recordTime(v2) = %v", recordTime(v2))
	}
	// A v2 record whose anchor is empty is corrupt: Encode never writes one.
	bad := append(append([]byte{}, v2[:len(v1)]...), 0, 5)
	if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty boot in v2: got %v, want ErrCorrupt", err)
	}
}

// TestCodecOldRecords: records written before events carried a location
// (no flagLocation, nothing after the payloads) still decode, with none.
func TestCodecOldRecords(t *testing.T) {
	on := true
	for _, tc := range []struct {
		hex  string
		want edge.Event
	}{
		{"01020202000000000000000007000000000000000217979cfe362a00003ff000000000000006646f6f722d3107636f6e7461637400046f70656e",
			edge.Event{Epoch: 7, Seq: 2, Time: time.Unix(1_700_000_000, 0), Kind: edge.KindState, Priority: edge.PriorityHigh,
				Device: "door-1", Point: "contact", Text: "open", Value: 1}},
		{"0100040c00000000000000000700000000000000030000000000000000000000000000000006646f6f722d31000009636f6e6e6563746564",
			edge.Event{Epoch: 7, Seq: 3, Kind: edge.KindStatus, Device: "door-1", Online: &on, Text: "connected"}},
	} {
		rec, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(rec)
		if err != nil {
			t.Fatalf("old record %s: %v", tc.hex[:16], err)
		}
		// Without a location, today's encoder writes the same bytes.
		if enc := hex.EncodeToString(Encode(nil, &got)); enc != tc.hex {
			t.Errorf("re-encoded: got %s, want %s", enc, tc.hex)
		}
		if !got.Time.Equal(tc.want.Time) {
			t.Errorf("time: got %v, want %v", got.Time, tc.want.Time)
		}
		got.Time, tc.want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("got %+v, want %+v", got, tc.want)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for i, ev := range codecSamples() {
		rec := Encode(nil, &ev)
		got, err := Decode(rec)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !got.Time.Equal(ev.Time) {
			t.Errorf("sample %d: time %v, want %v", i, got.Time, ev.Time)
		}
		got.Time, ev.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("sample %d:\n got %+v\nwant %+v", i, got, ev)
		}
		if EncodedLen(&ev) != len(rec) {
			t.Errorf("sample %d: EncodedLen %d, len %d", i, EncodedLen(&ev), len(rec))
		}
		// Every truncation is an error, never a panic.
		for n := 0; n < len(rec); n++ {
			if _, err := Decode(rec[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("sample %d truncated to %d: got %v, want ErrCorrupt", i, n, err)
			}
		}
	}
	if _, err := Decode([]byte{3, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown version: got %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, ev := range codecSamples() {
		f.Add(Encode(nil, &ev))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		again := Encode(nil, &ev)
		ev2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if string(Encode(nil, &ev2)) != string(again) {
			t.Fatalf("encoding not stable")
		}
	})
}
