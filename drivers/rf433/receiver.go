package rf433

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// receiver reads signals from the configured source (a decoder board's
// port, an rtl_433 child process or a pipe), collapses the repeats of one
// trigger and reconnects with backoff. The driver and `edgegw learn 433`
// share it.
type receiver struct {
	o        *Options
	format   Format
	clock    edge.Clock
	log      *slog.Logger
	throttle *edge.LogThrottle
	open     func(path string, mode *bugserial.Mode) (bugserial.Port, error)
	// readTimeout is how long a quiet line waits before a frame at the end
	// of the data is taken (and the supervision checked).
	readTimeout time.Duration
	// poll is how often a pipe or file at its end is read again.
	poll time.Duration

	mu         sync.Mutex
	garbage    uint64 // bytes or lines that did not decode
	overlong   uint64
	errors     uint64
	reconnects uint64
	taken      uint64 // frames and lines decoded, repeats included
	lastError  string
	lastErrAt  time.Time
	recent     map[string]*repeat
}

// repeat is what the receiver remembers of a recent code.
type repeat struct {
	last    time.Time
	count   int
	emitted bool
}

// maxRecent bounds the codes remembered for collapsing repeats (a noisy
// band can bring many distinct codes).
const maxRecent = 1024

// hooks are the receiver's callbacks, all called from its goroutine.
type hooks struct {
	up     func(reason string)
	down   func(reason string)
	signal func(s Signal, now time.Time)
	// giveUp, when set, ends run with err instead of retrying (learn: a
	// port that never opened is a typo or held by the gateway).
	giveUp func(err error, everOpened bool) bool
}

func newReceiver(o *Options, clock edge.Clock, log *slog.Logger) (*receiver, error) {
	r := &receiver{o: o, clock: clock, log: log, readTimeout: 50 * time.Millisecond, poll: 200 * time.Millisecond,
		throttle: &edge.LogThrottle{Log: log, Interval: o.LogInterval.D(), Clock: clock},
		open:     (&serialport.Opener{Log: log, Clock: clock}).Open, recent: map[string]*repeat{}}
	if o.Format != "rtl433" {
		f, err := o.FrameFormat()
		if err != nil {
			return nil, err
		}
		r.format = f
	}
	return r, nil
}

// source names what the receiver reads, for messages.
func (r *receiver) source() string {
	switch {
	case r.o.Format != "rtl433":
		return r.o.Port
	case r.o.RTL433.File != "":
		return r.o.RTL433.File
	}
	return r.o.RTL433.Command[0]
}

// run reads until ctx ends, reopening the source with backoff.
func (r *receiver) run(ctx context.Context, h hooks) error {
	b := edge.Backoff{Min: r.o.ReconnectMin.D(), Max: r.o.ReconnectMax.D(), Jitter: 0.4, Clock: r.clock}
	opened := false
	for ctx.Err() == nil {
		start := r.clock.Now()
		wasOpen, err := r.session(ctx, h, opened)
		opened = opened || wasOpen
		if ctx.Err() != nil {
			return nil
		}
		reason := fmt.Sprintf("open %s: %v", r.source(), err)
		if wasOpen {
			reason = fmt.Sprintf("receiver %s lost: %v", r.source(), err)
		}
		r.fail(reason)
		if h.giveUp != nil && h.giveUp(err, opened) {
			return fmt.Errorf("%s: %w", r.source(), err)
		}
		h.down(reason)
		if wasOpen && r.clock.Now().Sub(start) > r.o.ReconnectMax.D() {
			b.Reset()
		}
		if b.Wait(ctx) != nil {
			return nil
		}
	}
	return nil
}

func (r *receiver) session(ctx context.Context, h hooks, reopened bool) (opened bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in rf433 receiver: %v", p)
			r.log.Error("rf433 session panicked", "panic", p)
		}
	}()
	switch {
	case r.o.Format != "rtl433":
		return r.serialSession(ctx, h, reopened)
	case r.o.RTL433.File != "":
		return r.fileSession(ctx, h, reopened)
	}
	return r.processSession(ctx, h, reopened)
}

func (r *receiver) opened(h hooks, reopened bool, what string) {
	if reopened {
		r.mu.Lock()
		r.reconnects++
		r.mu.Unlock()
	}
	r.log.Info("rf433 receiver open", "source", r.source())
	h.up(what)
}

func (r *receiver) serialSession(ctx context.Context, h hooks, reopened bool) (bool, error) {
	mode := &bugserial.Mode{BaudRate: r.format.Baud, DataBits: 8, Parity: bugserial.NoParity, StopBits: bugserial.OneStopBit}
	port, err := r.open(r.o.Port, mode)
	if err != nil {
		return false, err
	}
	defer port.Close()
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	if err := port.SetReadTimeout(r.readTimeout); err != nil {
		return true, err
	}
	r.opened(h, reopened, "receiver open")
	p := NewParser(r.format)
	buf := make([]byte, 512)
	var g0 uint64
	for {
		n, err := port.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, err
		}
		now := r.clock.Now()
		emit := func(c Code) { r.signal(h, FrameSignal(c), now) }
		if n == 0 {
			if ctx.Err() != nil {
				return true, nil
			}
			p.Idle(emit)
		} else {
			p.Feed(buf[:n], emit)
		}
		if p.Garbage != g0 {
			r.noise(p.Garbage-g0, 0, "")
			g0 = p.Garbage
		}
	}
}

// tail is an io.Writer that keeps the last bytes written: rtl_433's stderr,
// for the message when it exits.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 512 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-512:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (r *receiver) processSession(ctx context.Context, h hooks, reopened bool) (bool, error) {
	argv := r.o.RTL433.Command
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr tail
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return false, err
	}
	r.opened(h, reopened, "rtl_433 started")
	rerr := r.readLines(ctx, h, out, false)
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return true, nil
	}
	msg := fmt.Sprintf("rtl_433 exited (%v)", werr)
	if werr == nil {
		msg = "rtl_433 exited"
	}
	if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, os.ErrClosed) {
		msg += fmt.Sprintf(", read: %v", rerr)
	}
	if s := stderr.String(); s != "" {
		msg += ": " + lastLine(s)
	}
	return true, errors.New(msg)
}

func lastLine(s string) string {
	b := []byte(s)
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return string(b[i+1:])
		}
	}
	return string(b)
}

func (r *receiver) fileSession(ctx context.Context, h hooks, reopened bool) (bool, error) {
	f, err := os.Open(r.o.RTL433.File)
	if err != nil {
		return false, err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	r.opened(h, reopened, "rtl_433 pipe open")
	err = r.readLines(ctx, h, f, true)
	if ctx.Err() != nil {
		return true, nil
	}
	return true, err
}

// readLines reads rtl_433's JSON lines from rd until it ends (follow:
// at its end, wait and read again, as tail -f does; a pipe with no writer
// reads as its end too).
func (r *receiver) readLines(ctx context.Context, h hooks, rd io.Reader, follow bool) error {
	lines := Lines{Max: r.o.RTL433.MaxLine}
	buf := make([]byte, 4096)
	var o0 uint64
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			now := r.clock.Now()
			lines.Feed(buf[:n], func(l []byte) {
				if len(l) == 0 {
					return
				}
				s, perr := ParseRTL433(l)
				if perr != nil {
					r.noise(1, 0, perr.Error())
					return
				}
				r.signal(h, s, now)
			})
			if lines.Overlong != o0 {
				r.noise(0, lines.Overlong-o0, "")
				o0 = lines.Overlong
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if follow && errors.Is(err, io.EOF) {
				if edge.Sleep(ctx, r.clock, r.poll) != nil {
					return nil
				}
				continue
			}
			return err
		}
	}
}

// signal collapses repeats: a code seen again within the repeat window of
// its last frame is the same trigger. With min_repeats above 1 a code
// counts once it came that many times.
func (r *receiver) signal(h hooks, s Signal, now time.Time) {
	win := r.o.RepeatWindow.D()
	r.mu.Lock()
	r.taken++
	rp := r.recent[s.ID]
	if rp != nil && now.Sub(rp.last) <= win && !now.Before(rp.last) {
		rp.last = now
		rp.count++
	} else {
		if rp == nil && len(r.recent) >= maxRecent {
			for id, x := range r.recent {
				if now.Sub(x.last) > win || now.Before(x.last) {
					delete(r.recent, id)
				}
			}
			if len(r.recent) >= maxRecent {
				clear(r.recent)
			}
		}
		rp = &repeat{last: now, count: 1}
		r.recent[s.ID] = rp
	}
	fire := !rp.emitted && rp.count >= r.o.MinRepeats
	if fire {
		rp.emitted = true
	}
	r.mu.Unlock()
	if fire {
		h.signal(s, now)
	}
}

func (r *receiver) noise(garbage, overlong uint64, why string) {
	r.mu.Lock()
	r.garbage += garbage
	r.overlong += overlong
	if why != "" {
		r.lastError, r.lastErrAt = why, r.clock.Now()
	}
	r.mu.Unlock()
	args := []any{"source", r.source(), "garbage", garbage, "overlong", overlong}
	if why != "" {
		args = append(args, "err", why)
	}
	r.throttle.Warn("noise", "rf433 input dropped", args...)
}

func (r *receiver) fail(reason string) {
	r.mu.Lock()
	r.errors++
	r.lastError, r.lastErrAt = reason, r.clock.Now()
	r.mu.Unlock()
	r.throttle.Warn("fail", "rf433 receiver unavailable", "reason", reason)
}
