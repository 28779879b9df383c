package edge_test

import (
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

type syncSource struct{ synced, known bool }

func (s syncSource) ClockSynced() (bool, bool) { return s.synced, s.known }

type fixedBoot struct {
	id   string
	mono time.Duration
}

func (b fixedBoot) Boot() (string, time.Duration) { return b.id, b.mono }

// TestClockFloor: a wall clock before the floor (a box without an RTC,
// booted in 1970 or at its last shutdown) is untrusted, and what verifies
// time (TLS, signatures) uses max(now, floor).
func TestClockFloor(t *testing.T) {
	floor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		now         time.Time
		floor       *edge.ClockFloor
		source      edge.TrustSource
		wantTrusted bool
		wantVerify  time.Time
	}{
		{"boot in 1970", time.Unix(0, 0), edge.NewClockFloor(floor), nil, false, floor},
		{"boot in 1970, OS says synced", time.Unix(3600, 0), edge.NewClockFloor(floor), syncSource{true, true}, false, floor},
		{"at the last shutdown (before the floor)", floor.Add(-time.Minute), edge.NewClockFloor(floor), nil, false, floor},
		{"after the floor", floor.Add(time.Hour), edge.NewClockFloor(floor), nil, true, floor.Add(time.Hour)},
		{"after the floor, OS says unsynced", floor.Add(time.Hour), edge.NewClockFloor(floor), syncSource{false, true}, false, floor.Add(time.Hour)},
		{"compiled-in floor only", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), edge.NewClockFloor(), nil, false, edge.MinClockFloor},
		{"no floor", time.Unix(0, 0), nil, nil, true, time.Unix(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &edge.ClockJudge{Clock: fakeclock.New(tc.now), Floor: tc.floor, Source: tc.source}
			got, trusted := j.Stamp()
			if !got.Equal(tc.now) || trusted != tc.wantTrusted {
				t.Errorf("Stamp() = %v %v, want %v %v", got, trusted, tc.now, tc.wantTrusted)
			}
			if v := j.VerifyTime(); !v.Equal(tc.wantVerify) {
				t.Errorf("VerifyTime() = %v, want %v", v, tc.wantVerify)
			}
			if s := j.SignTime(); !s.Equal(tc.wantVerify) {
				t.Errorf("SignTime() without a skew = %v, want VerifyTime %v", s, tc.wantVerify)
			}
		})
	}
}

func TestNewClockFloorTakesTheLatest(t *testing.T) {
	saved := time.Date(2026, 10, 3, 4, 5, 6, 0, time.UTC)
	build := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	if f := edge.NewClockFloor(saved, build, time.Time{}); !f.Time().Equal(saved) {
		t.Errorf("floor %v, want the saved %v", f.Time(), saved)
	}
	if f := edge.NewClockFloor(time.Time{}, time.Unix(0, 0)); !f.Time().Equal(edge.MinClockFloor) {
		t.Errorf("floor %v, want MinClockFloor", f.Time())
	}
	f := edge.NewClockFloor(saved)
	if f.Raise(saved.Add(-time.Hour)) || !f.Time().Equal(saved) {
		t.Error("the floor went down")
	}
	if !f.Raise(saved.Add(time.Hour)) || !f.Time().Equal(saved.Add(time.Hour)) {
		t.Error("the floor did not go up")
	}
}

// TestRaiseFloorNeedsConfirmation: the floor rises only while something
// outside the box vouches for the clock (OS sync, a small central skew):
// a clock set wrong in the future must not drag the floor along.
func TestRaiseFloorNeedsConfirmation(t *testing.T) {
	start := time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		source edge.TrustSource
		skew   *time.Duration
		now    time.Time
		want   bool
	}{
		{"no confirmation", nil, nil, start, false},
		{"OS synced", syncSource{true, true}, nil, start, true},
		{"OS unknown", syncSource{false, false}, nil, start, false},
		{"small central skew", nil, ptr(time.Second), start, true},
		{"large central skew", nil, ptr(time.Hour), start, false},
		{"before the floor, OS synced", syncSource{true, true}, nil, time.Unix(0, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := fakeclock.New(tc.now)
			floor := edge.NewClockFloor(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
			before := floor.Time()
			j := &edge.ClockJudge{Clock: clk, Floor: floor, Source: tc.source}
			if tc.skew != nil {
				j.SetSkew(*tc.skew)
			}
			if got := j.RaiseFloor(); got != tc.want {
				t.Fatalf("RaiseFloor() = %v, want %v", got, tc.want)
			}
			if want := map[bool]time.Time{true: tc.now, false: before}[tc.want]; !floor.Time().Equal(want) {
				t.Errorf("floor %v, want %v", floor.Time(), want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSignTimeUsesTheSkew: once the central measured a skew, requests are
// signed with the corrected time, whatever the local clock says.
func TestSignTimeUsesTheSkew(t *testing.T) {
	server := time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC)
	local := time.Unix(120, 0) // booted in 1970, two minutes ago
	j := &edge.ClockJudge{Clock: fakeclock.New(local), Floor: edge.NewClockFloor()}
	j.SetSkew(server.Sub(local))
	if got := j.SignTime(); !got.Equal(server) {
		t.Errorf("SignTime() = %v, want the server's %v", got, server)
	}
	if got := j.VerifyTime(); !got.Equal(edge.MinClockFloor) {
		t.Errorf("VerifyTime() = %v, want the floor (a skew is not a verified time)", got)
	}
	// Time goes on from the measurement.
	clk := j.Clock.(*fakeclock.Clock)
	clk.Advance(90 * time.Second)
	if got := j.SignTime(); !got.Equal(server.Add(90 * time.Second)) {
		t.Errorf("90 s later: SignTime() = %v, want %v", got, server.Add(90*time.Second))
	}
}

// TestSignTimeOnTheSystemClock: on the real clock the server's time is
// carried forward on the monotonic clock from the measurement.
func TestSignTimeOnTheSystemClock(t *testing.T) {
	j := &edge.ClockJudge{}
	skew := 56 * 365 * 24 * time.Hour
	j.SetSkew(skew)
	got := j.SignTime()
	if d := got.Sub(time.Now().Add(skew)); d < -time.Second || d > time.Second {
		t.Errorf("SignTime() = %v, want about now + %v", got, skew)
	}
}

// TestMarkAnchorsInTheBoot: Mark stamps the time, the trust and the boot
// anchor (to the millisecond); without a BootSource there is none.
func TestMarkAnchorsInTheBoot(t *testing.T) {
	clk := fakeclock.New(time.Unix(5, 0))
	j := &edge.ClockJudge{Clock: clk, Floor: edge.NewClockFloor(), Boot: fixedBoot{"b-1", 90*time.Second + 1234567}}
	var ev edge.Event
	j.Mark(&ev)
	if ev.Boot != "b-1" || ev.Mono != 90*time.Second+time.Millisecond || ev.ClockTrusted || !ev.Time.Equal(time.Unix(5, 0)) {
		t.Errorf("got %+v, want boot b-1, mono 90.001s, untrusted 1970 time", ev)
	}
	j = &edge.ClockJudge{Clock: clk}
	ev = edge.Event{}
	j.Mark(&ev)
	if ev.Boot != "" || ev.Mono != 0 {
		t.Errorf("no BootSource: got anchor %q %v", ev.Boot, ev.Mono)
	}
}
