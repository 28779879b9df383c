package receiver

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

func (r *rig) heartbeatOf(hb wire.Heartbeat) {
	r.t.Helper()
	body, _ := json.Marshal(hb)
	resp, b := r.do("POST", wire.PathHeartbeat, "gw1", r.key, body, nil)
	if resp.StatusCode != 200 {
		r.t.Fatalf("heartbeat: status %d: %s", resp.StatusCode, b)
	}
}

func (r *rig) adminEvents() []wire.Event {
	r.t.Helper()
	resp, b := r.admin("GET", "/v1/admin/events?gateway=gw1", nil)
	if resp.StatusCode != 200 {
		r.t.Fatalf("events: status %d: %s", resp.StatusCode, b)
	}
	var page EventsPage
	if err := json.Unmarshal(b, &page); err != nil {
		r.t.Fatal(err)
	}
	out := make([]wire.Event, len(page.Events))
	for i := range page.Events {
		e, err := page.Events[i].Decode()
		if err != nil {
			r.t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func near(got, want time.Time, tol time.Duration) bool {
	d := got.Sub(want)
	return d <= tol && d >= -tol
}

// TestTimeCorrectedFromHeartbeat: a gateway whose clock says 1970 sends
// events anchored in its boot, then a heartbeat with the boot's monotonic
// time. The events API then serves its untrusted events with
// ts_corrected = boot start (central receive time - mono) + the event's
// mono, near the true time; trusted events and events of a boot the
// central does not know are left alone. The boot survives a restart.
func TestTimeCorrectedFromHeartbeat(t *testing.T) {
	r := newRig(t, Options{})
	const boot = "6f0c2d1e-8a4b-4c5d-9e6f-0a1b2c3d4e5f"
	epoch1970 := time.UnixMilli(30_000).UTC()
	evs := []wire.Event{
		{Epoch: 9, Seq: 1, Time: epoch1970, Kind: wire.KindReading, Device: "t1", Value: 1, Boot: boot, MonoMillis: 10_000},
		{Epoch: 9, Seq: 2, Time: epoch1970.Add(10 * time.Second), Kind: wire.KindReading, Device: "t1", Value: 2, Boot: boot, MonoMillis: 20_000},
		{Epoch: 9, Seq: 3, Time: time.Now().UTC(), ClockTrusted: true, Kind: wire.KindReading, Device: "t1", Value: 3, Boot: boot, MonoMillis: 25_000},
		{Epoch: 9, Seq: 4, Time: epoch1970, Kind: wire.KindReading, Device: "t1", Value: 4, Boot: "an-older-boot", MonoMillis: 5_000},
	}
	if br := r.postBatch(evs); br.Stored != len(evs) {
		t.Fatalf("stored %d of %d", br.Stored, len(evs))
	}
	for i, e := range r.adminEvents() {
		if !e.TimeCorrected.IsZero() {
			t.Fatalf("event %d corrected before any heartbeat: %v", i, e.TimeCorrected)
		}
		if e.Boot != evs[i].Boot || e.MonoMillis != evs[i].MonoMillis {
			t.Fatalf("event %d: anchor %q %d stored, want %q %d", i, e.Boot, e.MonoMillis, evs[i].Boot, evs[i].MonoMillis)
		}
	}

	// The heartbeat says the boot is 30 s old: it started 30 s ago.
	sent := time.Now()
	r.heartbeatOf(wire.Heartbeat{Version: "test", Time: epoch1970.Add(20 * time.Second), BootID: boot, MonoMillis: 30_000})
	bootStart := sent.Add(-30 * time.Second)
	check := func(when string) {
		t.Helper()
		got := r.adminEvents()
		for i, mono := range []time.Duration{10 * time.Second, 20 * time.Second} {
			if want := bootStart.Add(mono); !near(got[i].TimeCorrected, want, 2*time.Second) {
				t.Errorf("%s: event %d: ts_corrected %v, want about %v", when, i, got[i].TimeCorrected, want)
			}
			if !got[i].Time.Equal(evs[i].Time) || got[i].ClockTrusted {
				t.Errorf("%s: event %d: ts %v trusted %v, want the gateway's %v untrusted", when, i, got[i].Time, got[i].ClockTrusted, evs[i].Time)
			}
		}
		if !got[2].TimeCorrected.IsZero() || !got[3].TimeCorrected.IsZero() {
			t.Errorf("%s: trusted event or unknown boot corrected: %v, %v", when, got[2].TimeCorrected, got[3].TimeCorrected)
		}
	}
	check("after the heartbeat")

	// A later heartbeat that took longer on the way tells a later start:
	// the earlier one is kept.
	r.heartbeatOf(wire.Heartbeat{Version: "test", BootID: boot, MonoMillis: 1_000})
	check("after a slow heartbeat")
	r.restart()
	check("after a restart")
}

func TestMergeBoot(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var boots []BootStart
	boots, changed := MergeBoot(boots, "a", t0)
	if !changed || len(boots) != 1 {
		t.Fatalf("first boot: %v %v", boots, changed)
	}
	if _, changed = MergeBoot(boots, "a", t0.Add(time.Second)); changed {
		t.Error("a later start replaced an earlier one")
	}
	if boots, changed = MergeBoot(boots, "a", t0.Add(-time.Second)); !changed || !boots[0].Start.Equal(t0.Add(-time.Second)) {
		t.Errorf("an earlier start was not kept: %v", boots)
	}
	for i := range MaxBoots + 5 {
		boots, _ = MergeBoot(boots, string(rune('b'+i)), t0.Add(time.Duration(i+1)*time.Hour))
	}
	if len(boots) != MaxBoots || boots[0].Start.Before(boots[len(boots)-1].Start) {
		t.Fatalf("got %d boots, want the %d latest first", len(boots), MaxBoots)
	}
	for _, b := range boots {
		if b.Boot == "a" {
			t.Error("the oldest boot was kept past MaxBoots")
		}
	}
}

// TestTimeRecordBootAnchor: the stored record keeps the boot anchor (flag
// 32) and a record without one is byte for byte what it was.
func TestTimeRecordBootAnchor(t *testing.T) {
	e := wire.Event{Epoch: 2, Seq: 10, Time: time.UnixMilli(1000).UTC(), Kind: "state", Device: "door-1", Text: "open", Value: 1, Location: "cp07/3"}
	plain, err := appendRecord(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	e.Boot, e.MonoMillis = "b-7", 123_456
	anchored, err := appendRecord(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	if string(anchored[len(plain):]) != "\x03b-7\xc0\xc4\x07" {
		t.Errorf("anchor bytes %x", anchored[len(plain):])
	}
	got, err := decodeRecord(anchored)
	if err != nil || got.Boot != "b-7" || got.MonoMillis != 123_456 || got.Location != "cp07/3" {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	got, err = decodeRecord(plain)
	if err != nil || got.Boot != "" || got.MonoMillis != 0 {
		t.Fatalf("record without anchor decoded %+v, %v", got, err)
	}
}

func TestTimeHeartbeatBoot(t *testing.T) {
	recv := time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		hb     wire.Heartbeat
		ok     bool
		wantAt time.Time
	}{
		{wire.Heartbeat{BootID: "b", MonoMillis: 90_000}, true, recv.Add(-90 * time.Second)},
		{wire.Heartbeat{BootID: "b"}, true, recv},
		{wire.Heartbeat{MonoMillis: 5}, false, time.Time{}},                                               // a gateway before boot anchors
		{wire.Heartbeat{BootID: "b", MonoMillis: -1}, false, time.Time{}},                                 // broken
		{wire.Heartbeat{BootID: string(make([]byte, wire.MaxBoot+1)), MonoMillis: 1}, false, time.Time{}}, // too long
		{wire.Heartbeat{BootID: "b", MonoMillis: 1 << 62}, false, time.Time{}},                            // past any uptime
	} {
		boot, at, ok := HeartbeatBoot(&tc.hb, recv)
		if ok != tc.ok || (ok && (boot != tc.hb.BootID || !at.Equal(tc.wantAt))) {
			t.Errorf("%+v: got %q %v %v, want %v %v", tc.hb, boot, at, ok, tc.ok, tc.wantAt)
		}
	}
}
