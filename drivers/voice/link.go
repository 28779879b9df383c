package voice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// The failures of a conversation with a module, for errors.Is.
var (
	// ErrNoAnswer: a TTS module did not answer a frame in time (wiring:
	// TX/RX crossed? GND? baud?).
	ErrNoAnswer = errors.New("no answer from the module")
	// ErrRefused: a TTS module answered 0x45 (it did not take the frame).
	ErrRefused = errors.New("the module refused the frame (0x45)")
	// ErrBusy: a TTS module was still speaking when the wait ran out.
	ErrBusy = errors.New("the module is still speaking")
	// ErrRateLimited: the output's rate limit refused a play.
	ErrRateLimited = errors.New("rate limit reached")
	// ErrQuietHours: a play fell in muted quiet hours.
	ErrQuietHours = errors.New("muted by quiet hours")
)

// link is one open port to a module. For a TTS module a goroutine reads
// the status bytes and keeps ttsStatus; an MP3 module's port is only
// written (it never answers a control command), and what it sends is
// read only when asked (a query).
type link struct {
	port  bugserial.Port
	proto Protocol
	clock edge.Clock

	mu      sync.Mutex
	st      ttsStatus
	pending bool          // a synthesis frame is out, unanswered
	changed chan struct{} // closed and replaced on every status byte
	err     error         // why the reader stopped
	mp3     MP3Parser
	answers []MP3Answer // bounded: the last few
	done    chan struct{}
	// onGarbage, when set, is told of bytes that are no answer of the
	// module (a wrong baud rate or protocol); it runs on the reader.
	onGarbage func(n uint64)
}

const maxKeptAnswers = 8

func newLink(p bugserial.Port, proto Protocol, clock edge.Clock, onGarbage func(uint64)) *link {
	l := &link{port: p, proto: proto, clock: clock, changed: make(chan struct{}), done: make(chan struct{}), onGarbage: onGarbage}
	go l.read()
	return l
}

// read runs until the port is closed or fails.
func (l *link) read() {
	defer close(l.done)
	buf := make([]byte, 64)
	for {
		n, err := l.port.Read(buf)
		if n > 0 {
			l.mu.Lock()
			g0 := l.st.garbage + l.mp3.Garbage
			if l.proto.TTS() {
				for _, c := range buf[:n] {
					l.st.feed([]byte{c}, l.pending)
					if c == StatusReceived || c == StatusError {
						l.pending = false
					}
				}
			} else {
				for _, a := range l.mp3.Feed(buf[:n]) {
					if len(l.answers) == maxKeptAnswers {
						l.answers = l.answers[1:]
					}
					l.answers = append(l.answers, a)
				}
			}
			l.signal()
			g := l.st.garbage + l.mp3.Garbage - g0
			l.mu.Unlock()
			if g > 0 && l.onGarbage != nil {
				l.onGarbage(g)
			}
		}
		if err != nil {
			l.mu.Lock()
			l.err = err
			l.signal()
			l.mu.Unlock()
			return
		}
	}
}

// signal wakes the waiters; l.mu is held.
func (l *link) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// close closes the port and waits (briefly) for the reader to end.
func (l *link) close() error {
	err := l.port.Close()
	select {
	case <-l.done:
	case <-l.clock.After(time.Second):
	}
	return err
}

// dead reports why the reader stopped, nil while it runs.
func (l *link) dead() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// write writes a whole frame and waits until it has left the UART.
func (l *link) write(f []byte) error {
	for n := 0; n < len(f); {
		m, err := l.port.Write(f[n:])
		n += m
		if err != nil {
			return err
		}
		if m == 0 {
			return errors.New("port accepted no bytes")
		}
	}
	return l.port.Drain()
}

// waitFor waits until cond holds (checked under l.mu), ctx ends or one of
// the timers fires. It returns -1 and nil when cond holds, the index of
// the timer that fired, or an error (ctx's, or the reader's).
func (l *link) waitFor(ctx context.Context, cond func(*ttsStatus) bool, timers ...<-chan time.Time) (int, error) {
	for {
		l.mu.Lock()
		if cond(&l.st) {
			l.mu.Unlock()
			return -1, nil
		}
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return 0, fmt.Errorf("port closed: %w", err)
		}
		ch := l.changed
		l.mu.Unlock()
		var t0, t1 <-chan time.Time
		if len(timers) > 0 {
			t0 = timers[0]
		}
		if len(timers) > 1 {
			t1 = timers[1]
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-ch:
		case <-t0:
			return 0, nil
		case <-t1:
			return 1, nil
		}
	}
}

// snapshot returns a copy of the status.
func (l *link) snapshot() ttsStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// speaker holds the timing of a TTS conversation.
type speaker struct {
	answer, busy, poll time.Duration
	// query: ask the module whether it is idle when it is not known to be
	// (the output does; the probe sends nothing but the frames it was
	// asked for, and relies on the module's own idle byte).
	query bool
}

// say sends synthesis frames one after the other: each waits until the
// module is idle (so that it does not cut the one before) and for its
// 0x41.
func (s speaker) say(ctx context.Context, l *link, frames [][]byte) error {
	for i, f := range frames {
		if err := s.waitIdle(ctx, l, i > 0); err != nil {
			if i > 0 {
				return fmt.Errorf("part %d of %d: %w", i+1, len(frames), err)
			}
			return err
		}
		if err := s.send(ctx, l, f, true); err != nil {
			if i > 0 {
				return fmt.Errorf("part %d of %d: %w", i+1, len(frames), err)
			}
			return err
		}
	}
	return nil
}

// send writes one frame and waits for the module's 0x41 or 0x45.
func (s speaker) send(ctx context.Context, l *link, f []byte, synth bool) error {
	l.mu.Lock()
	r0, e0 := l.st.received, l.st.errors
	l.pending = synth
	l.mu.Unlock()
	if err := l.write(f); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	idx, err := l.waitFor(ctx, func(st *ttsStatus) bool { return st.received > r0 || st.errors > e0 },
		l.clock.After(s.answer))
	if err != nil {
		return err
	}
	if idx == 0 {
		return fmt.Errorf("%w within %v (expected 0x41): check TX to RX, RX to TX, GND, and the baud rate", ErrNoAnswer, s.answer)
	}
	if l.snapshot().errors > e0 {
		return ErrRefused
	}
	return nil
}

// waitIdle returns once the module is idle. afterOwn says the module is
// speaking a frame this conversation sent.
func (s speaker) waitIdle(ctx context.Context, l *link, afterOwn bool) error {
	deadline := l.clock.After(s.busy)
	idle := func(st *ttsStatus) bool { return st.known && !st.speaking }
	if !s.query {
		if !afterOwn {
			return nil
		}
		idx, err := l.waitFor(ctx, idle, deadline)
		if err != nil {
			return err
		}
		if idx == 0 {
			return fmt.Errorf("%w after %v (no 0x4F idle byte)", ErrBusy, s.busy)
		}
		return nil
	}
	for {
		st := l.snapshot()
		if idle(&st) {
			return nil
		}
		if st.known {
			// Speaking: wait for its idle byte, asking again every poll.
			idx, err := l.waitFor(ctx, idle, deadline, l.clock.After(s.poll))
			if err != nil {
				return err
			}
			switch idx {
			case -1:
				return nil
			case 0:
				return fmt.Errorf("%w after %v", ErrBusy, s.busy)
			}
		}
		b0, i0 := st.busy, st.idle
		if err := l.write(TTSQueryFrame(l.proto)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		idx, err := l.waitFor(ctx, func(st *ttsStatus) bool { return st.busy > b0 || st.idle > i0 },
			deadline, l.clock.After(s.answer))
		if err != nil {
			return err
		}
		switch idx {
		case 0:
			return fmt.Errorf("%w after %v", ErrBusy, s.busy)
		case 1:
			if !l.snapshot().known {
				return fmt.Errorf("%w to the status query within %v: check TX to RX, RX to TX, GND, and the baud rate", ErrNoAnswer, s.answer)
			}
		}
	}
}

// queryMP3 sends QueryFrame and waits for the state answer.
func queryMP3(ctx context.Context, l *link, timeout time.Duration) (byte, error) {
	l.mu.Lock()
	n0 := l.mp3.Frames
	l.mu.Unlock()
	if err := l.write(QueryFrame()); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	deadline := l.clock.After(timeout)
	for {
		l.mu.Lock()
		if l.mp3.Frames > n0 {
			for i := len(l.answers) - 1; i >= 0; i-- {
				if a := l.answers[i]; a.Cmd == mp3Query && len(a.Data) == 1 {
					l.mu.Unlock()
					return a.Data[0], nil
				}
			}
		}
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return 0, fmt.Errorf("port closed: %w", err)
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("%w to the state query within %v: check TX to RX, RX to TX, GND, and the baud rate", ErrNoAnswer, timeout)
		case <-ch:
		}
	}
}
