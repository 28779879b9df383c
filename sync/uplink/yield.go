package uplink

import (
	"context"
	"errors"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

// errYield is the cause of a main-lane delivery cancelled for a priority
// event (yieldToPriority).
var errYield = errors.New("a priority event arrived while the main batch was retrying")

// yieldKey carries a delivery's yielder in its request context, so that
// checkRetry can tell it that an attempt failed.
type yieldKey struct{}

// yielder lets a main-lane delivery give way to an alert or a state change.
// Once the delivery has failed an attempt, or started while the link was
// failing (the central platform is down or refusing: it is retrying,
// perhaps for minutes), and a priority event has arrived in the log, the
// delivery is cancelled, so that when the link returns the priority lanes
// go first and the backlog after them. A delivery that is going well is
// not cut: it ends within a round trip.
type yielder struct {
	cancel context.CancelCauseFunc

	mu              sync.Mutex
	failed, waiting bool
}

func (y *yielder) note(failed, waiting bool) {
	y.mu.Lock()
	y.failed = y.failed || failed
	y.waiting = y.waiting || waiting
	both := y.failed && y.waiting
	y.mu.Unlock()
	if both {
		y.cancel(errYield)
	}
}

// attemptFailed tells the yielder of ctx (if any) that an attempt failed
// and is being retried.
func attemptFailed(ctx context.Context) {
	if y, ok := ctx.Value(yieldKey{}).(*yielder); ok {
		y.note(true, false)
	}
}

// yieldToPriority returns the context of a main-lane delivery started when
// the log's last event was after: it is cancelled with errYield when an
// alert or state change newer than after arrives and the link is failing:
// the delivery failed an attempt, or the last exchange before it found the
// platform unreachable or refusing (its first attempt may still be on its
// way, and the link back before it goes out). stop ends the watch; it must
// be called.
func (u *Uplink) yieldToPriority(ctx context.Context, after uint64) (yctx context.Context, stop func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	u.mu.Lock()
	failing := u.conn == edge.SyncUnreachable || u.conn == edge.SyncRejecting
	u.mu.Unlock()
	y := &yielder{cancel: cancel, failed: failing}
	done := make(chan struct{})
	lg := u.o.Log
	// arrived reports whether the watch is over: an alert or a state
	// change after `after` is in the log (the yielder is told), or the log
	// fails (the delivery's own reads report that). Gap records do not
	// count: the main lane's own quarantine writes them.
	arrived := func() bool {
		last := lg.LastSeq()
		for {
			evs, err := lg.ReadPriority(after+1, MinPriority, 64)
			if err != nil {
				return true
			}
			if len(evs) == 0 {
				break
			}
			for i := range evs {
				if evs[i].Kind != edge.KindGap {
					y.note(false, true)
					return true
				}
			}
			after = evs[len(evs)-1].Seq
		}
		after = max(after, last)
		return false
	}
	if !arrived() {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-cctx.Done():
					return
				case <-lg.Wait(after):
				}
				if arrived() {
					return
				}
			}
		}()
	}
	return context.WithValue(cctx, yieldKey{}, y), func() {
		close(done)
		cancel(nil)
	}
}
