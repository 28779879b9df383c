package receiver

import "time"

// Clock is the receiver's source of time: edge.Clock's two methods, so an
// edge.Clock value (or a test's fake clock) satisfies it. The receiver
// cannot import edge (it needs no gateway code), hence its own interface.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// systemClock is the real clock, the default.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
