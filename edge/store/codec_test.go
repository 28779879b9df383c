package store

import (
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
	if _, err := Decode([]byte{2, 0, 0}); !errors.Is(err, ErrCorrupt) {
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
