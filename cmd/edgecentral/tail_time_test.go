package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// TestPrintEventTime: tail marks an untrusted time with ?, and prints the
// central's correction of one, when there is one, marked with ~.
func TestPrintEventTime(t *testing.T) {
	for _, tc := range []struct {
		e    wire.Event
		want string
	}{
		{wire.Event{Time: time.UnixMilli(1500).UTC(), ClockTrusted: true}, " 1970-01-01T00:00:01.500Z "},
		{wire.Event{Time: time.UnixMilli(1500).UTC()}, " 1970-01-01T00:00:01.500Z? "},
		{wire.Event{Time: time.UnixMilli(1500).UTC(), Boot: "b", MonoMillis: 9,
			TimeCorrected: time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC)}, " 2026-12-06T19:00:00.000Z~ "},
	} {
		tc.e.Epoch, tc.e.Seq, tc.e.Kind = 1, 2, wire.KindReading
		js, err := json.Marshal(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		printEvent(&b, &receiver.StoredEvent{Cursor: 1, Gateway: "gw1", Event: js})
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("got %q, want it to hold %q", b.String(), tc.want)
		}
	}
}
