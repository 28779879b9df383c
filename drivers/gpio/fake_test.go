package gpio

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"
)

// fakeChip is a GPIO chip in memory: the kernel here has no gpio-sim, so
// the driver is tested through its own Chip interface. It models what the
// driver relies on: bias sets the level of an undriven input, active-low
// inverts the logical value, edges call the handler with logical values.
type fakeChip struct {
	mu      sync.Mutex
	lines   map[int]*fakeLine
	driven  map[int]bool // physical levels driven from outside
	broken  error        // Value fails with it (the chip vanished)
	opens   int
	failing error         // OpenChip fails with it
	refused chan struct{} // a signal per open that failed
}

type fakeLine struct {
	chip    *fakeChip
	offset  int
	cfg     LineConfig
	handler func(LineEvent)
	out     bool // an output's logical value
	closed  bool
	seq     uint32
}

func newFakeChip() *fakeChip {
	return &fakeChip{lines: map[int]*fakeLine{}, driven: map[int]bool{}, refused: make(chan struct{}, 64)}
}

func (c *fakeChip) opener() func(string) (Chip, error) {
	return func(name string) (Chip, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.failing != nil {
			signal(c.refused)
			return nil, fmt.Errorf("open GPIO chip %q: %w", name, c.failing)
		}
		c.opens++
		return c, nil
	}
}

func (c *fakeChip) RequestLine(offset int, cfg LineConfig, h func(LineEvent)) (Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.lines[offset]; l != nil && !l.closed {
		return nil, fmt.Errorf("request line %d: device or resource busy", offset)
	}
	l := &fakeLine{chip: c, offset: offset, cfg: cfg, handler: h, out: cfg.Initial}
	c.lines[offset] = l
	return l, nil
}

func (c *fakeChip) Close() error { return nil }

// physical is an input line's level: driven from outside, else its bias.
func (c *fakeChip) physical(l *fakeLine) bool {
	if v, ok := c.driven[l.offset]; ok {
		return v
	}
	return l.cfg.Bias == BiasPullUp
}

// drive sets the physical level of line offset, as a contact would, and
// raises an edge event when the logical value changes.
func (c *fakeChip) drive(offset int, high bool) {
	c.mu.Lock()
	l := c.lines[offset]
	var before bool
	if l != nil {
		before = c.physical(l)
	}
	c.driven[offset] = high
	var ev *LineEvent
	if l != nil && !l.closed && l.handler != nil && before != high {
		l.seq++
		ev = &LineEvent{Offset: offset, Active: high != l.cfg.ActiveLow, Seq: l.seq}
	}
	c.mu.Unlock()
	if ev != nil {
		l.handler(*ev)
	}
}

func (c *fakeChip) line(offset int) *fakeLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines[offset]
}

func (c *fakeChip) setBroken(err error) {
	c.mu.Lock()
	c.broken = err
	c.mu.Unlock()
}

func (l *fakeLine) Value() (bool, error) {
	c := l.chip
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return false, c.broken
	}
	if l.closed {
		return false, errors.New("line closed")
	}
	if l.cfg.Output {
		return l.out, nil
	}
	return c.physical(l) != l.cfg.ActiveLow, nil
}

func (l *fakeLine) SetValue(v bool) error {
	l.chip.mu.Lock()
	defer l.chip.mu.Unlock()
	if !l.cfg.Output {
		return errors.New("line is an input")
	}
	l.out = v
	return nil
}

func (l *fakeLine) Close() error {
	l.chip.mu.Lock()
	l.closed = true
	l.chip.mu.Unlock()
	return nil
}

// fakeModem is a serial port's modem lines in memory (a pty does not
// implement TIOCMGET, see TestModemLinesOnPTY).
type fakeModem struct {
	mu       sync.Mutex
	bits     serial.ModemStatusBits
	dtr, rts bool
	gone     bool // unplugged: reads fail, opens fail
	opens    int
	closed   int
	refused  chan struct{} // a signal per open that failed
}

func newFakeModem() *fakeModem { return &fakeModem{refused: make(chan struct{}, 64)} }

func (f *fakeModem) opener() func(string, bool, bool) (ModemPort, error) {
	return func(path string, dtr, rts bool) (ModemPort, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.gone {
			signal(f.refused)
			return nil, fmt.Errorf("open %s: no such file or directory", path)
		}
		f.opens++
		f.dtr, f.rts = dtr, rts
		return f, nil
	}
}

func (f *fakeModem) set(fn func(b *serial.ModemStatusBits)) {
	f.mu.Lock()
	fn(&f.bits)
	f.mu.Unlock()
}

func (f *fakeModem) GetModemStatusBits() (*serial.ModemStatusBits, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return nil, errors.New("input/output error")
	}
	b := f.bits
	return &b, nil
}

func (f *fakeModem) SetDTR(v bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return errors.New("input/output error")
	}
	f.dtr = v
	return nil
}

func (f *fakeModem) SetRTS(v bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return errors.New("input/output error")
	}
	f.rts = v
	return nil
}

func (f *fakeModem) Close() error {
	f.mu.Lock()
	f.closed++
	f.mu.Unlock()
	return nil
}

func (f *fakeModem) levels() (dtr, rts bool, opens int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dtr, f.rts, f.opens
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitSignals waits for n signals on c; the test fails after d.
func waitSignals(t *testing.T, c chan struct{}, n int, d time.Duration, what string) {
	t.Helper()
	deadline := time.After(d)
	for i := 0; i < n; i++ {
		select {
		case <-c:
		case <-deadline:
			t.Fatalf("waited %v for %d %s, got %d", d, n, what, i)
		}
	}
}
