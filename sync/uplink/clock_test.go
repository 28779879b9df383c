package uplink

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// shiftedClock is the real clock moved by d (with its monotonic reading):
// a box whose wall clock is wrong but ticks.
type shiftedClock struct{ d time.Duration }

func (c shiftedClock) Now() time.Time                         { return time.Now().Add(c.d) }
func (c shiftedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// testBoot is a boot that started at start (real time).
type testBoot struct {
	id    string
	start time.Time
}

func (b testBoot) Boot() (string, time.Duration) { return b.id, time.Since(b.start) }

// TestClock1970EventsGetCorrectedTimes: a box without an RTC boots with
// its clock in 1970. Its events are recorded untrusted (before the clock
// floor) with the boot anchor; its first requests, signed with a 1970
// time, are answered 401 clock_window by the real receiver, whose Date
// header gives the skew; the retries, signed with the corrected time, get
// through. Once a heartbeat told the central the boot's monotonic time,
// the central serves the events with ts_corrected near the true time.
func TestClock1970EventsGetCorrectedTimes(t *testing.T) {
	srv, key := startReceiver(t)
	clk := shiftedClock{d: -time.Since(time.Unix(600, 0))} // ten minutes past 1970
	boot := testBoot{id: "9a8b7c6d-0000-4000-8000-123456789abc", start: time.Now().Add(-10 * time.Minute)}
	judge := &edge.ClockJudge{Clock: clk, Floor: edge.NewClockFloor(), Boot: boot}
	st, err := store.Open(store.Options{Dir: t.TempDir(), CommitWait: time.Millisecond, Judge: judge, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, st: st, ctl: &fakeController{}, judge: judge, logBuf: &syncBuffer{}}
	cfg := config.Uplink{
		URL: srv.URL(), Key: key.String(), MaxEvents: 200, MaxAge: config.Duration(20 * time.Millisecond),
		RetryMax: 2, RetryWaitMin: config.Duration(10 * time.Millisecond), RetryWaitMax: config.Duration(50 * time.Millisecond),
		RetryAfterCap: config.Duration(time.Second), Timeout: config.Duration(5 * time.Second),
		PollInterval: config.Duration(50 * time.Millisecond), HeartbeatInterval: config.Duration(50 * time.Millisecond),
	}
	logger := slog.New(slog.NewTextHandler(r.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.u, err = New(Options{Config: cfg, GatewayID: "gw1", Log: st, State: st, Controller: r.ctl, Judge: judge,
		Logger: logger, Version: "test", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	appended := time.Now()
	evs := r.appendReadings(30, "t1")
	for _, e := range evs {
		if e.ClockTrusted || e.Time.Year() != 1970 || e.Boot != boot.id || e.Mono < 10*time.Minute {
			t.Fatalf("event %d: ts %v trusted %v anchor %q %v; want 1970, untrusted, anchored 10 min into the boot",
				e.Seq, e.Time, e.ClockTrusted, e.Boot, e.Mono)
		}
	}
	r.start()
	eventually(t, "the events stored", func() bool {
		gs, err := srv.Store().Gateways()
		return err == nil && len(gs) == 1 && gs[0].Events == uint64(len(evs))
	})
	if srvRefused(srv, wire.CodeClockWindow) == 0 {
		t.Error("the receiver never answered clock_window: the test did not start from a 1970 signature")
	}
	if d, ok := judge.Skew(); !ok || d < 50*365*24*time.Hour {
		t.Errorf("skew %v %v, want some 56 years", d, ok)
	}
	var got []wire.Event
	eventually(t, "ts_corrected on every event", func() bool {
		code, b := adminGet(t, srv.URL()+"/v1/admin/events?gateway=gw1")
		var page receiver.EventsPage
		if code != 200 || json.Unmarshal(b, &page) != nil || len(page.Events) != len(evs) {
			return false
		}
		got = got[:0]
		for i := range page.Events {
			e, err := page.Events[i].Decode()
			if err != nil || e.TimeCorrected.IsZero() {
				return false
			}
			got = append(got, e)
		}
		return true
	})
	for _, e := range got {
		if d := e.TimeCorrected.Sub(appended); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("event %d: ts_corrected %v, want about %v (when it was recorded)", e.Seq, e.TimeCorrected, appended)
		}
		if e.ClockTrusted || e.Time.Year() != 1970 {
			t.Errorf("event %d: ts %v trusted %v, want the gateway's 1970 time, untrusted", e.Seq, e.Time, e.ClockTrusted)
		}
	}
	if strings.Contains(r.logBuf.String(), "quarantin") {
		t.Errorf("a batch was quarantined:\n%s", r.logBuf.String())
	}
}
