package edge

import (
	"sync"
	"time"
)

// Clock is the source of time for everything in the core, so that tests and
// `edgegw rules test` can run on a virtual clock.
type Clock interface {
	Now() time.Time
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time                         { return time.Now() }
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// TrustSource says whether the wall clock is to be trusted: a platform probe
// (NTP sync status where the OS tells), and the skew the central platform
// reported.
type TrustSource interface {
	ClockSynced() (synced bool, known bool)
}

// BootSource names the running boot of the machine and tells how long ago
// it started, on a clock the wall clock's jumps do not move (Linux:
// /proc/sys/kernel/random/boot_id and CLOCK_BOOTTIME; elsewhere an id made
// at process start and the time since). docs/time.md: the central turns
// (boot, since boot) into a true time once it knows when the boot started.
type BootSource interface {
	Boot() (id string, sinceBoot time.Duration)
}

// MinClockFloor is the compiled-in clock floor: no wall clock reading
// before it is believed, whatever else says so. A box without a real-time
// clock boots in 1970 (or at its last shutdown time); see ClockFloor.
var MinClockFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ClockFloor is the last known good time: a time the wall clock is known to
// have passed. A wall clock reading before it is wrong (untrusted), and
// whatever verifies time (TLS certificates, signatures) uses max(now,
// floor). It only rises. The gateway keeps it in its data directory
// (edge/gateway: clock-floor.json) and raises it while the clock is
// confirmed good (ClockJudge.RaiseFloor).
type ClockFloor struct {
	mu sync.Mutex
	t  time.Time
}

// NewClockFloor returns a floor at the latest of MinClockFloor and ts (the
// saved floor, the build date); zero times are ignored.
func NewClockFloor(ts ...time.Time) *ClockFloor {
	f := &ClockFloor{t: MinClockFloor}
	for _, t := range ts {
		f.Raise(t)
	}
	return f
}

// Time returns the floor.
func (f *ClockFloor) Time() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Raise moves the floor up to t and reports whether it moved.
func (f *ClockFloor) Raise(t time.Time) bool {
	t = t.Round(0).UTC()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !t.After(f.t) {
		return false
	}
	f.t = t
	return true
}

// ClockJudge stamps events with wall time and a trusted flag. Ordering never
// depends on it (seq does that); it only says whether a timestamp can be
// believed. The clock is untrusted when it reads before the Floor, when it
// jumped (the wall clock moved differently from the monotonic clock by
// more than Tolerance), when the OS says it is not synchronised, or when
// the central platform reported a skew larger than Tolerance. A jump
// taints the clock for JumpTaint afterwards. docs/time.md says what an
// untrusted time means for the data.
type ClockJudge struct {
	Clock     Clock
	Tolerance time.Duration // default 2s
	JumpTaint time.Duration // default 10m
	Source    TrustSource   // may be nil
	// Floor is the last known good time (nil: no floor).
	Floor *ClockFloor
	// Boot anchors each event in the running boot (nil: events carry no
	// boot anchor).
	Boot BootSource

	mu        sync.Mutex
	last      time.Time // previous reading, with its monotonic part
	untilBad  time.Time // monotonic deadline of a jump's taint
	haveLast  bool
	skew      time.Duration
	skewAt    time.Time // when skew was measured, with its monotonic reading
	skewKnown bool
	jumps     uint64
}

// Stamp returns the wall time now and whether it is trusted.
func (j *ClockJudge) Stamp() (time.Time, bool) {
	c := j.Clock
	if c == nil {
		c = SystemClock{}
	}
	now := c.Now()
	tol := j.Tolerance
	if tol == 0 {
		tol = 2 * time.Second
	}
	taint := j.JumpTaint
	if taint == 0 {
		taint = 10 * time.Minute
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.haveLast {
		mono := now.Sub(j.last)                   // monotonic when both carry it
		wall := now.Round(0).Sub(j.last.Round(0)) // wall clock only
		if d := wall - mono; d > tol || d < -tol {
			j.jumps++
			j.untilBad = now.Add(taint)
		}
	}
	j.last, j.haveLast = now, true
	trusted := !now.Before(j.untilBad) || j.untilBad.IsZero()
	if j.Floor != nil && now.Before(j.Floor.Time()) {
		trusted = false
	}
	if j.skewKnown && (j.skew > tol || j.skew < -tol) {
		trusted = false
	}
	if j.Source != nil {
		if synced, known := j.Source.ClockSynced(); known && !synced {
			trusted = false
		}
	}
	return now.Round(0), trusted
}

// Mark stamps ev: its Time and ClockTrusted (Stamp), and its boot anchor
// (Boot, Mono) when the judge has a BootSource.
func (j *ClockJudge) Mark(ev *Event) {
	ev.Time, ev.ClockTrusted = j.Stamp()
	ev.Boot, ev.Mono = j.Anchor()
}

// Anchor returns the boot id and the time since boot, to the millisecond;
// empty without a BootSource.
func (j *ClockJudge) Anchor() (boot string, mono time.Duration) {
	if j.Boot == nil {
		return "", 0
	}
	boot, mono = j.Boot.Boot()
	return boot, mono.Truncate(time.Millisecond)
}

// confirmed reports whether something outside the box vouches for the
// clock now: the OS says it is synchronised, or the central platform
// measured a skew within Tolerance. Call with j.mu held.
func (j *ClockJudge) confirmed(tol time.Duration) bool {
	if j.skewKnown && j.skew <= tol && j.skew >= -tol {
		return true
	}
	if j.Source != nil {
		if synced, known := j.Source.ClockSynced(); known && synced {
			return true
		}
	}
	return false
}

// RaiseFloor raises the Floor to now when the clock is trusted and
// confirmed (OS synchronised, or a small skew from the central): a clock
// that merely did not jump could be set wrong, and a floor set in the
// future would taint every time until then. It reports whether the floor
// moved.
func (j *ClockJudge) RaiseFloor() bool {
	if j.Floor == nil {
		return false
	}
	now, trusted := j.Stamp()
	if !trusted {
		return false
	}
	tol := j.Tolerance
	if tol == 0 {
		tol = 2 * time.Second
	}
	j.mu.Lock()
	ok := j.confirmed(tol)
	j.mu.Unlock()
	return ok && j.Floor.Raise(now)
}

// VerifyTime is the time to check certificates and signatures against:
// max(now, Floor). A box whose clock says 1970 still refuses a certificate
// that expired before its last known good time.
func (j *ClockJudge) VerifyTime() time.Time {
	c := j.Clock
	if c == nil {
		c = SystemClock{}
	}
	now := c.Now().Round(0)
	if j.Floor != nil {
		if f := j.Floor.Time(); now.Before(f) {
			return f
		}
	}
	return now
}

// SignTime is the time to sign requests with: the local time corrected by
// the skew the central measured once one is known (so a box that booted
// in 1970 authenticates after its first clock_window answer), else
// VerifyTime.
//
// The server's time is carried forward from the measurement on the
// monotonic clock, so a wall clock set meanwhile (NTP catching up after
// boot) does not throw the signature off until the next answer re-measures.
func (j *ClockJudge) SignTime() time.Time {
	j.mu.Lock()
	skew, at, known := j.skew, j.skewAt, j.skewKnown
	j.mu.Unlock()
	if known {
		c := j.Clock
		if c == nil {
			c = SystemClock{}
		}
		return at.Round(0).Add(skew).Add(c.Now().Sub(at))
	}
	return j.VerifyTime()
}

// SetSkew records the skew the central platform measured (server minus local).
func (j *ClockJudge) SetSkew(d time.Duration) {
	c := j.Clock
	if c == nil {
		c = SystemClock{}
	}
	now := c.Now()
	j.mu.Lock()
	j.skew, j.skewAt, j.skewKnown = d, now, true
	j.mu.Unlock()
}

// Skew returns the last reported skew.
func (j *ClockJudge) Skew() (time.Duration, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.skew, j.skewKnown
}

// Jumps counts the clock jumps seen.
func (j *ClockJudge) Jumps() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.jumps
}
