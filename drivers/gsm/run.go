package gsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Run owns the modem: it opens and initialises it at once (so that the
// port is the gateway's from the start), reopens it with backoff after a
// failure, and works through the queue one recipient at a time. It returns
// nil when ctx ends; recipients still queued then fail with edge.ErrClosed.
func (o *Output) Run(ctx context.Context) error {
	o.mu.Lock()
	if o.running {
		o.mu.Unlock()
		return fmt.Errorf("sms output %q: Run called twice", o.name)
	}
	o.running = true
	o.mu.Unlock()
	defer close(o.done)
	var m *modem
	defer func() {
		if m != nil {
			m.port.Close()
		}
	}()
	reconnect := edge.Backoff{Min: time.Second, Max: 30 * time.Second, Clock: o.clock}
	var retry <-chan time.Time
	connect := func() {
		if m != nil {
			return
		}
		var err error
		if m, err = o.connect(ctx); err != nil {
			if ctx.Err() == nil {
				o.throttle.Warn("connect", "sms modem unavailable; retrying", "err", err)
			}
			retry = o.clock.After(reconnect.Next())
			return
		}
		reconnect.Reset()
		retry = nil
	}
	connect()
	for {
		select {
		case <-ctx.Done():
			o.drain()
			return nil
		case <-retry:
			retry = nil
			connect()
		case j := <-o.jobs:
			if m = o.process(ctx, j, m); m == nil && retry == nil {
				retry = o.clock.After(reconnect.Next())
			}
		}
	}
}

// drain fails what is left in the queue on shutdown.
func (o *Output) drain() {
	for {
		select {
		case j := <-o.jobs:
			o.finish(j, edge.ErrClosed)
		default:
			return
		}
	}
}

// finish records a recipient's outcome, and logs the batch's once it was
// its last recipient.
func (o *Output) finish(j *job, err error) {
	if err == nil {
		o.count(&o.sent, nil)
	} else {
		o.count(&o.failed, err)
	}
	if j.b.finish(j.i, err) {
		j.b.summary(o.log)
	}
}

// process sends one recipient's SMS (every part), with retries, within
// recipient_timeout, and returns the modem to keep (nil: closed).
func (o *Output) process(ctx context.Context, j *job, m *modem) (kept *modem) {
	closeModem := func() {
		if m != nil {
			m.port.Close()
			m = nil
		}
	}
	defer func() {
		if r := recover(); r != nil {
			o.log.Error("sms output panicked", "panic", r)
			closeModem()
			kept = nil
			o.finish(j, fmt.Errorf("panic in sms output: %v", r))
		}
	}()
	budget := o.opts.RecipientTimeout.D()
	rctx, cancel := clockTimeout(ctx, o.clock, budget, ErrRecipientTimeout)
	defer cancel()
	retry := edge.Backoff{Min: o.opts.RetryWait.D(), Max: 4 * o.opts.RetryWait.D(), Jitter: 0.4, Clock: o.clock}
	var err error
	for attempt := 0; ; attempt++ {
		if m == nil {
			m, err = o.connect(rctx)
		}
		if m != nil {
			err = o.sendParts(rctx, m, j)
		}
		if err == nil {
			o.log.Info("sms sent", "to", j.to, "parts", len(j.parts))
			o.finish(j, nil)
			return m
		}
		var me *ModemError
		modemSaid := errors.As(err, &me)
		if !modemSaid {
			// No answer, or the port failed: start over with a fresh port.
			closeModem()
		}
		// Another program holding the modem's port will not let go within
		// a retry's wait: said at once (the next SMS tries again).
		inUse := errors.Is(err, edge.ErrPortInUse)
		if rctx.Err() != nil || (modemSaid && !me.Transient()) || inUse || attempt >= *o.opts.Retries {
			break
		}
		o.log.Warn("sms failed, retrying", "to", j.to, "err", err, "attempt", attempt+1)
		if retry.Wait(rctx) != nil {
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (last: %v)", edge.ErrClosed, err)
	case errors.Is(context.Cause(rctx), ErrRecipientTimeout):
		err = fmt.Errorf("%w (%v; last: %v)", ErrRecipientTimeout, budget, err)
	}
	o.log.Warn("sms failed", "to", j.to, "err", err)
	o.finish(j, err)
	return m
}

// sendParts sends the parts of j not sent yet: a retry does not send a
// part twice.
func (o *Output) sendParts(ctx context.Context, m *modem, j *job) error {
	for j.next < len(j.parts) {
		mr, err := m.send(ctx, j.to, j.parts[j.next], o.opts.CommandTimeout.D(), o.opts.SendTimeout.D())
		if err != nil {
			return err
		}
		o.log.Debug("sms part sent", "to", j.to, "part", j.next+1, "mr", mr)
		j.next++
	}
	return nil
}

func (o *Output) connect(ctx context.Context) (*modem, error) {
	p, err := o.open(o.opts.Port.Port, o.mode)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.opts.Port.Port, err)
	}
	m, err := newModem(p, o.clock)
	if err == nil {
		err = m.init(ctx, o.opts.CommandTimeout.D())
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("modem init: %w", err)
	}
	o.mu.Lock()
	o.reconnects++
	o.mu.Unlock()
	return m, nil
}

// clockTimeout is context.WithTimeout on clock c: the ctx ends with cause
// when d has passed on c.
func clockTimeout(parent context.Context, c edge.Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	fired := c.After(d)
	go func() {
		select {
		case <-fired:
			cancel(cause)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}
