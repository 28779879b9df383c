package wire

import (
	"os"
	"regexp"
	"testing"
	"time"
)

// TestProtocolExample decodes the batch example of PROTOCOL.md and checks it
// against the table the document says it decodes to, so the document cannot
// drift from the code.
func TestProtocolExample(t *testing.T) {
	doc, err := os.ReadFile("../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(\\{\"version\":1,.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no batch example in PROTOCOL.md")
	}
	events, err := DecodeBatch(m[1])
	if err != nil {
		t.Fatalf("the example does not decode: %v", err)
	}
	t0 := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	want := []Event{
		{Epoch: 9876543210123456789, Seq: 41, Time: t0, ClockTrusted: true, Kind: KindAlert, Priority: 3, Device: "door-3-2-101", Point: "contact", Text: "door open",
			Alert: &Alert{ID: "door-open/door-3-2-101/40", Rule: "door-open", State: AlertFiring, Severity: "high", Message: "door open 5 min", Cause: 40}},
		{Epoch: 9876543210123456789, Seq: 1, Time: t0.Add(-time.Minute), ClockTrusted: true, Kind: KindReading, Device: "temp-1", Point: "temperature", Value: 21.5, Unit: "°C"},
		{Epoch: 9876543210123456789, Seq: 2, Time: t0.Add(-time.Minute + 1500*time.Millisecond), Kind: KindReading, Device: "temp-1", Point: "temperature", Value: 22, Unit: "°C", Quality: 2},
	}
	equalEvents(t, events, want)
}
