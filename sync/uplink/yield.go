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
// Once the link is failing (the delivery failed an attempt, or started
// while the central platform was unreachable or refusing: it may retry for
// minutes) and an alert or state change arrives in the log, the delivery
// is cancelled, so that when the link returns the priority lanes go first
// and the backlog after them. A delivery that is going well is not cut,
// and costs no watching: the log is watched only once the link fails.
type yielder struct {
	ctx    context.Context // ends with the delivery
	cancel context.CancelCauseFunc
	log    edge.Log
	after  uint64 // priority events after it count
	once   sync.Once
}

// failing starts the watch (once): at once when a priority event is
// there already, else on each new event until the delivery ends.
func (y *yielder) failing() {
	y.once.Do(func() {
		if found, ok := y.arrived(); found || !ok {
			return
		}
		go func() {
			for {
				select {
				case <-y.ctx.Done():
					return
				case <-y.log.Wait(y.after):
				}
				if found, ok := y.arrived(); found || !ok {
					return
				}
			}
		}()
	})
}

// arrived looks for an alert or state change after y.after; found, the
// delivery is cancelled. Gap records do not count: the main lane's own
// quarantine writes them. ok is false when the log fails (the delivery's
// own reads report that).
func (y *yielder) arrived() (found, ok bool) {
	last := y.log.LastSeq()
	for {
		evs, err := y.log.ReadPriority(y.after+1, MinPriority, 64)
		if err != nil {
			return false, false
		}
		if len(evs) == 0 {
			break
		}
		for i := range evs {
			if evs[i].Kind != edge.KindGap {
				y.cancel(errYield)
				return true, true
			}
		}
		y.after = evs[len(evs)-1].Seq
	}
	y.after = max(y.after, last)
	return false, true
}

// attemptFailed tells the yielder of ctx (if any) that an attempt failed
// and is being retried.
func attemptFailed(ctx context.Context) {
	if y, ok := ctx.Value(yieldKey{}).(*yielder); ok {
		y.failing()
	}
}

// yieldToPriority returns the context of a main-lane delivery started when
// the log's last event was after (yielder). stop ends it; it must be
// called.
func (u *Uplink) yieldToPriority(ctx context.Context, after uint64) (yctx context.Context, stop func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	y := &yielder{ctx: cctx, cancel: cancel, log: u.o.Log, after: after}
	u.mu.Lock()
	failing := u.conn == edge.SyncUnreachable || u.conn == edge.SyncRejecting
	u.mu.Unlock()
	if failing {
		y.failing()
	}
	return context.WithValue(cctx, yieldKey{}, y), func() { cancel(nil) }
}
