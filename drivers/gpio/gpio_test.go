package gpio

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

func isState(dev, pt, text string) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindState && e.Device == dev && e.Point == pt && e.Text == text
	}
}

func run(t *testing.T, d edge.Driver) *collector {
	t.Helper()
	sink := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop on cancel")
		}
	})
	return sink
}

const contactsYAML = `
chip: gpiochip0
debounce: 30ms
devices:
  - id: door-301
    location: sunrise/b3/u1/301
    tags: [observe]
    type: door_contact
    points:
      # reed switch to ground, pull-up: the open door opens the contact, the line goes high
      - {name: door, line: 17, on: open, off: closed}
  - id: panel
    points:
      - {name: smoke, line: 4, active_low: true, bias: pull-down, debounce: 5ms, on: alarm, off: normal}
      - {name: tamper, line: 5, active_low: true}
`

// TestGPIOContacts: the initial state of every contact is sent at start,
// then each edge as a state change with the line's names; bias,
// active-low and debounce reach the chip.
func TestGPIOContacts(t *testing.T) {
	chip := newFakeChip()
	chip.driven[17] = false // door closed: contact closed pulls the line low
	d, err := New(edge.Env{Name: "contacts"}, opts(contactsYAML))
	if err != nil {
		t.Fatal(err)
	}
	d.open = chip.opener()
	sink := run(t, d)
	sink.WaitFor(t, 0, 5*time.Second, "online", isStatus("door-301", true))
	sink.WaitFor(t, 0, 5*time.Second, "door closed at start", isState("door-301", "door", "closed"))
	// smoke: pull-down, undriven: low, active-low: active.
	sink.WaitFor(t, 0, 5*time.Second, "smoke at start", isState("panel", "smoke", "alarm"))
	// tamper: the chip-wide pull-up, active-low: high reads inactive, default name "open".
	sink.WaitFor(t, 0, 5*time.Second, "tamper at start", isState("panel", "tamper", "open"))

	if c := chip.line(4).cfg; c.Bias != BiasPullDown || !c.ActiveLow || c.Debounce != 5*time.Millisecond || c.Output {
		t.Errorf("smoke line config %+v", c)
	}
	if c := chip.line(17).cfg; c.Bias != BiasPullUp || c.ActiveLow || c.Debounce != 30*time.Millisecond {
		t.Errorf("door line config %+v", c)
	}
	n := sink.Len()
	chip.drive(17, true) // door opens
	i := sink.WaitFor(t, n, 5*time.Second, "door open", isState("door-301", "door", "open"))
	if e := sink.Events()[i]; e.Value != 1 || e.Priority != 0 {
		t.Errorf("door open event %+v, want value 1", e)
	}
	chip.drive(4, true) // smoke line high: active-low, so normal
	sink.WaitFor(t, n, 5*time.Second, "smoke normal", isState("panel", "smoke", "normal"))
	chip.drive(17, false)
	sink.WaitFor(t, i, 5*time.Second, "door closed", isState("door-301", "door", "closed"))
	if st := d.Stats(); st[0].Frames != 2 || st[1].Frames != 1 {
		t.Errorf("edges counted: %+v", st)
	}
	for _, e := range sink.Events() {
		if e.Device == "door-301" && e.Kind == edge.KindState && e.Point != "door" {
			t.Errorf("unexpected event %+v", e)
		}
	}
}

// TestGPIOChipVanishes: a chip whose lines stop reading (a USB GPIO
// expander unplugged) takes its devices offline; once it opens again they
// come back online with their states.
func TestGPIOChipVanishes(t *testing.T) {
	chip := newFakeChip()
	d, err := New(edge.Env{Name: "contacts"}, opts(contactsYAML+"resync: 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	d.open = chip.opener()
	d.backoff.Min, d.backoff.Max = 5*time.Millisecond, 20*time.Millisecond
	sink := run(t, d)
	sink.WaitFor(t, 0, 5*time.Second, "door at start", isState("door-301", "door", "open"))
	chip.mu.Lock()
	chip.failing = errors.New("no such device")
	chip.mu.Unlock()
	chip.setBroken(errors.New("no such device"))
	off := sink.WaitFor(t, 0, 5*time.Second, "offline", isStatus("panel", false))
	if e := sink.Events()[off]; !strings.Contains(e.Text, "no such device") {
		t.Errorf("offline reason %q", e.Text)
	}
	waitSignals(t, chip.refused, 2, 5*time.Second, "failed reopens")
	chip.mu.Lock()
	chip.failing, chip.broken = nil, nil
	chip.mu.Unlock()
	on := sink.WaitFor(t, off, 5*time.Second, "online again", isStatus("panel", true))
	sink.WaitFor(t, on, 5*time.Second, "door state again", isState("door-301", "door", "open"))
	if st := d.Stats(); st[0].Reconnects != 1 || st[0].Errors == 0 {
		t.Errorf("stats %+v", st)
	}
	offs := 0
	for _, e := range sink.Events() {
		if e.Kind == edge.KindStatus && e.Device == "panel" && !e.IsOnline() {
			offs++
		}
	}
	if offs != 1 {
		t.Errorf("%d offline events, want 1", offs)
	}
}

func TestGPIOOutput(t *testing.T) {
	chip := newFakeChip()
	o, err := NewOutput(edge.Env{Name: "relay"}, opts("chip: gpiochip0\nline: 6\nactive_low: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	o.open = chip.opener()
	ctx := context.Background()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); err != nil {
		t.Fatal(err)
	}
	l := chip.line(6)
	if !l.cfg.Output || !l.cfg.ActiveLow || !l.out {
		t.Fatalf("line after on: %+v", l)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: false}); err != nil || l.out {
		t.Fatalf("off: %v, line %+v", err, l)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend}); !errors.Is(err, edge.ErrUnsupported) {
		t.Errorf("send: got %v", err)
	}
	o.Close()
	if !l.closed {
		t.Error("line not released by Close")
	}
	// After Close, the next use requests the line again, starting off.
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: false}); err != nil || chip.line(6) == l || chip.line(6).out {
		t.Errorf("reuse after close: %v", err)
	}
	o.Close()
}

func TestOpenChipOnThisOS(t *testing.T) {
	_, err := OpenChip("gpiochip-that-does-not-exist")
	if err == nil {
		t.Fatal("no error opening a chip that does not exist")
	}
	if runtime.GOOS != "linux" && !errors.Is(err, ErrNotSupported) {
		t.Errorf("on %s: got %v, want ErrNotSupported", runtime.GOOS, err)
	}
	if !strings.Contains(err.Error(), "gpiochip-that-does-not-exist") {
		t.Errorf("error %q does not name the chip", err)
	}
}

func TestGPIOOptionsErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"devices: [{id: a, points: [{name: p, line: 1}]}]", "chip"},
		{"chip: c\nbias: up\ndevices: [{id: a, points: [{name: p, line: 1}]}]", "bias"},
		{"chip: c\ndevices: []", "devices"},
		{"chip: c\ndevices: [{id: a, points: []}]", "devices[0].points"},
		{"chip: c\ndevices: [{id: a, points: [{name: p}]}]", "devices[0].points[0].line"},
		{"chip: c\ndevices: [{id: a, points: [{name: p, line: 1}, {name: q, line: 1}]}]", "devices[0].points[1].line"},
		{"chip: c\ndevices: [{id: a, points: [{name: p, line: 1, on: x, off: x}]}]", "devices[0].points[0].on"},
		{"chip: c\ndevices: [{id: a, points: [{name: p, line: 1}]}, {id: a, points: [{name: p, line: 2}]}]", "devices[1].id"},
	} {
		_, err := New(edge.Env{}, opts(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") {
			t.Errorf("%s\n  got %v, want an error naming %s", tc.yaml, err, tc.field)
		}
	}
	if _, err := New(edge.Env{}, opts("chip: c\npin: 4\n")); err == nil || !strings.Contains(err.Error(), "pin") {
		t.Errorf("unknown key: got %v", err)
	}
	if _, err := NewOutput(edge.Env{}, opts("chip: c\n")); err == nil || !strings.Contains(err.Error(), "options.line:") {
		t.Errorf("output without line: got %v", err)
	}
}

// TestGPIOSinkRefuses: refused events are counted; edges are still followed.
func TestGPIOSinkRefuses(t *testing.T) {
	chip := newFakeChip()
	d, err := New(edge.Env{Name: "contacts"}, opts(contactsYAML))
	if err != nil {
		t.Fatal(err)
	}
	d.open = chip.opener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	refused := make(chan struct{}, 64)
	go func() {
		done <- d.Run(ctx, edge.SinkFunc(func(edge.Event) error { signal(refused); return edge.ErrClosed }))
	}()
	defer func() { cancel(); <-done }()
	// 2 online + 3 initial states.
	waitSignals(t, refused, 5, 5*time.Second, "refused events")
	chip.drive(17, false)
	waitSignals(t, refused, 1, 5*time.Second, "refused edge")
	// The sink said no before the driver counted the drop: wait for it.
	deadline := time.After(5 * time.Second)
	for d.Dropped() < 6 {
		select {
		case <-deadline:
			t.Fatalf("dropped %d, want 6", d.Dropped())
		case <-time.After(time.Millisecond):
		}
	}
	if got := d.Dropped(); got != 6 {
		t.Errorf("dropped %d, want 6", got)
	}
}
