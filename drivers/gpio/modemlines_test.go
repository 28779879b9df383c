package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"go.bug.st/serial"
)

const modemYAML = `
port: /dev/ttyS0
interval: 5ms
debounce: 40ms
devices:
  - id: cam3
    location: sunrise/b3
    type: camera
    points:
      - {name: fall_relay, signal: cts, on: alarm, off: normal}
  - id: gate
    points:
      - {name: gate, signal: dcd, invert: true}
`

// TestModemLinesDebounce drives the debounce directly with chosen times:
// the first reading is sent at once; a change is sent once it has held for
// the debounce period; a shorter glitch is not sent.
func TestModemLinesDebounce(t *testing.T) {
	m, err := NewModem(edge.Env{}, opts(modemYAML))
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms   int
		cts  bool
		want []string // states sent at this step: point=text
	}{
		{0, false, []string{"fall_relay=normal", "gate=closed"}}, // dcd off, inverted: active
		{5, true, nil},
		{30, false, nil}, // a 25ms glitch
		{80, false, nil}, // still normal
		{100, true, nil}, // rises
		{139, true, nil}, // 39ms: not yet
		{140, true, []string{"fall_relay=alarm"}},
		{200, true, nil},
		{210, false, nil},
		{250, false, []string{"fall_relay=normal"}},
	}
	for _, s := range steps {
		n := sink.Len()
		m.sample(sink, &serial.ModemStatusBits{CTS: s.cts}, at(s.ms))
		var got []string
		for _, e := range sink.Events()[n:] {
			got = append(got, e.Point+"="+e.Text)
		}
		if strings.Join(got, ",") != strings.Join(s.want, ",") {
			t.Errorf("at %dms cts=%v: sent %v, want %v", s.ms, s.cts, got, s.want)
		}
	}
}

// TestModemLinesPort: the lines are polled through the port; the port
// vanishing takes the devices offline, they come back with their states;
// an output on the same port shares it and drives DTR.
func TestModemLinesPort(t *testing.T) {
	fake := newFakeModem()
	fake.bits.CTS = true
	m, err := NewModem(edge.Env{Name: "lines"}, opts(modemYAML+"rts: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	m.open = fake.opener()
	m.backoff.Min, m.backoff.Max = 5*time.Millisecond, 20*time.Millisecond
	sink := run(t, m)
	sink.WaitFor(t, 0, 5*time.Second, "online", isStatus("cam3", true))
	sink.WaitFor(t, 0, 5*time.Second, "alarm at start", isState("cam3", "fall_relay", "alarm"))
	if dtr, rts, _ := fake.levels(); !dtr || rts {
		t.Errorf("opened with dtr=%v rts=%v, want dtr on (default) and rts off (configured)", dtr, rts)
	}
	n := sink.Len()
	fake.set(func(b *serial.ModemStatusBits) { b.CTS = false; b.DCD = true })
	sink.WaitFor(t, n, 5*time.Second, "normal", isState("cam3", "fall_relay", "normal"))
	sink.WaitFor(t, n, 5*time.Second, "gate open", isState("gate", "gate", "open"))

	// An output driving DTR on the same port uses the same open port.
	o, err := NewModemOutput(edge.Env{Name: "beacon"}, opts("port: /dev/ttyS0\nsignal: dtr\n"))
	if err != nil {
		t.Fatal(err)
	}
	o.open = func(string, bool, bool) (ModemPort, error) { return nil, errors.New("must share the input's port") }
	if err := o.Apply(context.Background(), edge.Op{Kind: edge.OpSet, On: false}); err != nil {
		t.Fatal(err)
	}
	if dtr, _, opens := fake.levels(); dtr || opens != 1 {
		t.Errorf("after off: dtr=%v opens=%d", dtr, opens)
	}
	o.Close()

	n = sink.Len()
	fake.mu.Lock()
	fake.gone = true
	fake.mu.Unlock()
	off := sink.WaitFor(t, n, 5*time.Second, "offline", isStatus("gate", false))
	if e := sink.Events()[off]; !strings.Contains(e.Text, "/dev/ttyS0") {
		t.Errorf("offline reason %q does not name the port", e.Text)
	}
	waitSignals(t, fake.refused, 2, 5*time.Second, "failed reopens")
	fake.mu.Lock()
	fake.gone = false
	fake.mu.Unlock()
	on := sink.WaitFor(t, off, 5*time.Second, "online again", isStatus("gate", true))
	sink.WaitFor(t, on, 5*time.Second, "states again", isState("gate", "gate", "open"))
	if st := m.Stats(); st[0].Reconnects != 1 || st[0].Errors == 0 || st[0].Frames == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestModemOutputAlone(t *testing.T) {
	fake := newFakeModem()
	o, err := NewModemOutput(edge.Env{Name: "siren"}, opts("port: /dev/ttyUSB3\nsignal: rts\ninvert: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	o.open = fake.opener()
	ctx := context.Background()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); err != nil {
		t.Fatal(err)
	}
	// Opened with RTS at "off" (inverted: on), then on = RTS low.
	if _, rts, opens := fake.levels(); rts || opens != 1 {
		t.Errorf("on: rts=%v opens=%d", rts, opens)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: false}); err != nil {
		t.Fatal(err)
	}
	if _, rts, _ := fake.levels(); !rts {
		t.Error("off with invert: want RTS high")
	}
	fake.mu.Lock()
	fake.gone = true
	fake.mu.Unlock()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); err == nil || !strings.Contains(err.Error(), "RTS") {
		t.Errorf("unplugged: got %v", err)
	}
	fake.mu.Lock()
	fake.gone = false
	fake.mu.Unlock()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); err != nil {
		t.Errorf("replugged: %v", err)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpPulse}); !errors.Is(err, edge.ErrUnsupported) {
		t.Errorf("pulse: got %v", err)
	}
	o.Close()
	if fake.closed == 0 {
		t.Error("port not closed")
	}
}

func TestModemOptionsErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"devices: [{id: a, points: [{name: p, signal: cts}]}]", "port"},
		{"port: p\ndevices: [{id: a, points: [{name: p, signal: dtr}]}]", "devices[0].points[0].signal"},
		{"port: p\ndevices: [{id: a, points: [{name: p, signal: cts}, {name: q, signal: cts}]}]", "devices[0].points[1].signal"},
		{"port: p\ninterval: 1ms\ndevices: [{id: a, points: [{name: p, signal: cts}]}]", "interval"},
		{"port: p\ndevices: []", "devices"},
	} {
		_, err := NewModem(edge.Env{}, opts(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") {
			t.Errorf("%s\n  got %v, want an error naming %s", tc.yaml, err, tc.field)
		}
	}
	if _, err := NewModemOutput(edge.Env{}, opts("port: p\nsignal: cts\n")); err == nil || !strings.Contains(err.Error(), "options.signal:") {
		t.Errorf("output signal cts: got %v", err)
	}
}

// TestModemOutputRunOpensAtStart: Run opens the port when the gateway
// starts, with the output's line off, retrying while the port is missing.
func TestModemOutputRunOpensAtStart(t *testing.T) {
	fake := newFakeModem()
	fake.gone = true
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o, err := NewModemOutput(edge.Env{Name: "siren", Clock: clk}, opts("port: /dev/ttyUSB4\nsignal: dtr\n"))
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 1)
	open := fake.opener()
	o.open = func(path string, dtr, rts bool) (ModemPort, error) {
		p, err := open(path, dtr, rts)
		if err == nil {
			signal(opened)
		}
		return p, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	waitSignals(t, fake.refused, 1, 5*time.Second, "a failed open")
	if !clk.BlockUntil(1, 5*time.Second) {
		t.Fatal("Run does not wait to retry")
	}
	fake.mu.Lock()
	fake.gone = false
	fake.mu.Unlock()
	clk.Advance(time.Minute)
	waitSignals(t, opened, 1, 5*time.Second, "the port opened")
	if dtr, rts, opens := fake.levels(); dtr || !rts || opens != 1 {
		t.Errorf("opened with dtr=%v rts=%v (%d opens), want DTR off, RTS on, once", dtr, rts, opens)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	o.Close()
	if fake.closed != 1 {
		t.Errorf("closed %d times, want 1", fake.closed)
	}
}
