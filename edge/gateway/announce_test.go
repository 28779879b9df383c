package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/status"
)

// TestAnnounceFromCentralCommand: the central platform's existing
// set_output and play_voice commands reach announcements through the
// reserved output name (the uplink calls Controller.ApplyOutput with these
// ops); the announcement is an event in the log.
func TestAnnounceFromCentralCommand(t *testing.T) {
	dir := t.TempDir()
	r := start(t, parse(t, dir, 50, ""))
	snap, err := r.g.Snapshot(context.Background())
	if err != nil || len(snap.Devices) == 0 {
		t.Fatalf("snapshot: %v, %d devices", err, len(snap.Devices))
	}
	dev := snap.Devices[0].Device.ID
	var ctl edge.Controller = r.g
	ctx := context.Background()
	// set_output {output: announce, value: "DEV 2h delivery"}
	if err := ctl.ApplyOutput(ctx, gateway.AnnounceOutput, edge.Op{Kind: edge.OpSend, Text: dev + " 2h parcel delivery"}); err != nil {
		t.Fatal(err)
	}
	a := r.g.Announcements()
	if len(a) != 1 || a[0].Device != dev || a[0].Note != "parcel delivery" || a[0].By != "central" {
		t.Fatalf("announcements %+v", a)
	}
	// play_voice {output: announce, device: DEV, for: 0, by: op7}: withdrawn.
	if err := ctl.ApplyOutput(ctx, gateway.AnnounceOutput, edge.Op{Kind: edge.OpSend, Vars: map[string]string{"device": dev, "for": "0", "by": "op7"}}); err != nil {
		t.Fatal(err)
	}
	if a := r.g.Announcements(); len(a) != 0 {
		t.Fatalf("after the withdrawal: %+v", a)
	}
	if err := ctl.ApplyOutput(ctx, gateway.AnnounceOutput, edge.Op{Kind: edge.OpSend, Text: "no-such-device 2h"}); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown device: got %v", err)
	}
	if err := ctl.ApplyOutput(ctx, gateway.AnnounceOutput, edge.Op{Kind: edge.OpSend, Text: dev}); err == nil {
		t.Fatal("no window accepted")
	}
	r.stop()
	n := 0
	for _, ev := range readAll(t, dir) {
		if ev.Kind == edge.KindAnnounce && ev.Device == dev {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("got %d announcement events in the log, want 2", n)
	}
}
