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

// ClockJudge stamps events with wall time and a trusted flag. Ordering never
// depends on it (seq does that); it only says whether a timestamp can be
// believed. The clock is untrusted when it jumped (the wall clock moved
// differently from the monotonic clock by more than Tolerance), when the OS
// says it is not synchronised, or when the central platform reported a skew
// larger than Tolerance. A jump taints the clock for JumpTaint afterwards.
type ClockJudge struct {
	Clock     Clock
	Tolerance time.Duration // default 2s
	JumpTaint time.Duration // default 10m
	Source    TrustSource   // may be nil

	mu        sync.Mutex
	last      time.Time // previous reading, with its monotonic part
	untilBad  time.Time // monotonic deadline of a jump's taint
	haveLast  bool
	skew      time.Duration
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

// SetSkew records the skew the central platform measured (server minus local).
func (j *ClockJudge) SetSkew(d time.Duration) {
	j.mu.Lock()
	j.skew, j.skewKnown = d, true
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
