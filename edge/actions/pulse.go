package actions

import (
	"context"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Pulses: the "on" is applied at once; the "off" deadline is written to the
// state store under pulse/<output> before anything else, so a gateway that
// restarts meanwhile still switches the output off (at once if the deadline
// has passed). A failed "off" is retried every retryOff.

const retryOff = 5 * time.Second

func pulseKey(output string) string { return "pulse/" + output }

func (r *Runner) schedulePulse(output string, deadline time.Time) {
	r.mu.Lock()
	if d, ok := r.pulses[output]; ok && d.After(deadline) {
		deadline = d // a longer pulse already runs: keep it
	}
	r.pulses[output] = deadline
	r.mu.Unlock()
	if r.o.State != nil {
		if err := r.o.State.PutState(pulseKey(output), []byte(deadline.UTC().Format(time.RFC3339Nano))); err != nil {
			r.log.Error("persist pulse deadline", "output", output, "err", err)
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) restorePulses() {
	if r.o.State == nil {
		return
	}
	for name := range r.o.Outputs {
		b, err := r.o.State.GetState(pulseKey(name))
		if err != nil {
			r.log.Error("read pulse deadline", "output", name, "err", err)
			continue
		}
		if b == nil {
			continue
		}
		d, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			d = time.Time{} // unreadable: switch off at once
		}
		r.mu.Lock()
		r.pulses[name] = d
		r.mu.Unlock()
		r.log.Info("pending pulse restored", "output", name, "off_at", d)
	}
}

// pulseLoop queues the "off" of every pulse whose deadline has come.
func (r *Runner) pulseLoop(ctx context.Context) {
	for {
		now := r.clk.Now()
		wait := time.Second
		var due []string
		r.mu.Lock()
		for name, d := range r.pulses {
			if !now.Before(d) {
				due = append(due, name)
				r.pulses[name] = now.Add(retryOff) // until the off succeeds
			} else if w := d.Sub(now); w < wait {
				wait = w
			}
		}
		r.mu.Unlock()
		for _, name := range due {
			select {
			case r.lanes[name] <- item{off: true}:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-r.clk.After(wait):
		}
	}
}

// pulseOff runs on the output's own goroutine.
func (r *Runner) pulseOff(ctx context.Context, name string) {
	out := r.o.Outputs[name]
	if err := r.apply(ctx, name, out, edge.Op{Kind: edge.OpSet, On: false}); err != nil {
		r.failed.Add(1)
		r.log.Warn("pulse off failed, retrying", "output", name, "err", err)
		r.record(&Job{Spec: &Spec{Output: name, Rule: ""}}, "failed", "pulse off: "+err.Error())
		return
	}
	r.mu.Lock()
	d, ok := r.pulses[name]
	// A new pulse may have been scheduled meanwhile; only clear ours.
	clear := ok && !d.After(r.clk.Now().Add(retryOff))
	if clear {
		delete(r.pulses, name)
	}
	r.mu.Unlock()
	if clear && r.o.State != nil {
		if err := r.o.State.DeleteState(pulseKey(name)); err != nil {
			r.log.Error("clear pulse deadline", "output", name, "err", err)
		}
	}
}
