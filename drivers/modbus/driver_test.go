package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus/modbustest"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// serveOn runs slave on the far end of pair until the test ends or the
// pair is unplugged; serveOn again after a Replug.
func serveOn(t *testing.T, pair *ptytest.Pair, slave *modbustest.Slave) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		slave.Serve(ctx, pair)
	}()
	t.Cleanup(func() { cancel(); pair.Unplug(); wg.Wait() })
}

func newBank() *modbustest.Bank {
	return &modbustest.Bank{Coils: make([]bool, 16), Discrete: make([]bool, 16), Holding: make([]uint16, 32), Input: make([]uint16, 16)}
}

func runDriver(t *testing.T, d *Driver) *collector {
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
			t.Error("Run did not return after cancel")
		}
	})
	return sink
}

// TestDriverBus: three slaves on one line, two poll groups, deadband and
// report_every; a dead slave does not stop the others.
func TestDriverBus(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	banks := map[byte]*modbustest.Bank{1: newBank(), 2: newBank(), 3: newBank()}
	banks[1].Holding[0] = 200 // 20.0 C
	banks[2].Discrete[3] = true
	slave := modbustest.New(banks)
	serveOn(t, pair, slave)
	d, err := New(edge.Env{Name: "bus"}, opts(`
port: `+pair.Path()+`
baud: 38400
parity: none
timeout: 100ms
retries: 0
offline_after: 3
groups:
  - {name: fast, interval: 15ms, report_every: 0s}
  - {name: slow, interval: 40ms, report_every: 100ms}
devices:
  - id: t1
    slave: 1
    group: fast
    points:
      - {name: temp, table: holding, address: 0, type: int16, scale: 0.1, deadband: 0.5, unit: C}
      - {name: hum, table: holding, address: 1, group: slow}
  - id: door
    slave: 2
    group: fast
    points:
      - {name: door, table: discrete, address: 3, on: open, off: closed}
  - id: ghost
    slave: 9
    group: fast
    points:
      - {name: x, table: input, address: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	sink := runDriver(t, d)
	isPt := func(dev, pt string, v float64) func(edge.Event) bool {
		return func(e edge.Event) bool { return e.Device == dev && e.Point == pt && e.Value == v }
	}
	sink.WaitFor(t, 0, 5*time.Second, "ghost offline", isStatus("ghost", false))
	sink.WaitFor(t, 0, 5*time.Second, "first temp", isPt("t1", "temp", 20))
	sink.WaitFor(t, 0, 5*time.Second, "door open", func(e edge.Event) bool {
		return e.Device == "door" && e.Kind == edge.KindState && e.Text == "open" && e.Value == 1
	})
	// Within the deadband: not sent. Past it: sent.
	n := sink.Len()
	slave.Lock()
	banks[1].Holding[0] = 203
	slave.Unlock()
	served := slave.Served()
	waitUntil(t, 5*time.Second, "a few polls of 20.3", func() bool { return slave.Served() >= served+6 })
	slave.Lock()
	banks[1].Holding[0] = 206
	banks[2].Discrete[3] = false
	slave.Unlock()
	i := sink.WaitFor(t, n, 5*time.Second, "temp past deadband", isPt("t1", "temp", 20.6))
	for _, e := range sink.Events()[n:i] {
		if e.Point == "temp" {
			t.Errorf("a change within the deadband was sent: %+v", e)
		}
	}
	sink.WaitFor(t, n, 5*time.Second, "door closed", func(e edge.Event) bool { return e.Device == "door" && e.Text == "closed" })
	// The slow group re-sends its unchanged value every report_every.
	first := sink.WaitFor(t, 0, 5*time.Second, "hum", isPt("t1", "hum", 0))
	sink.WaitFor(t, first+1, 5*time.Second, "hum again after report_every", isPt("t1", "hum", 0))
	for _, e := range sink.Events() {
		if e.Device == "ghost" && e.Kind != edge.KindStatus {
			t.Errorf("event from a slave that never answered: %+v", e)
		}
	}
	if c := d.Counters("ghost"); c.Timeouts == 0 || c.Online {
		t.Errorf("ghost counters: %+v", c)
	}
	if c := d.Counters("t1"); c.Frames == 0 || !c.Online {
		t.Errorf("t1 counters: %+v", c)
	}
}

// TestDriverPortVanishes: the far end unplugged takes every device offline;
// plugged back, they come online and the reconnect is counted.
func TestDriverPortVanishes(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	bank := newBank()
	bank.Holding[3] = 7
	slave := modbustest.New(map[byte]*modbustest.Bank{4: bank})
	serveOn(t, pair, slave)
	d, err := New(edge.Env{Name: "bus"}, opts(`
port: `+pair.Path()+`
baud: 115200
timeout: 300ms
groups: [{name: g, interval: 10ms}]
devices:
  - {id: a, slave: 4, points: [{name: v, table: holding, address: 3}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	d.backoffMin, d.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	tries := countOpens(t, d, nil)
	sink := runDriver(t, d)
	sink.WaitFor(t, 0, 5*time.Second, "value", func(e edge.Event) bool { return e.Point == "v" && e.Value == 7 })
	n := sink.Len()
	pair.Unplug()
	off := sink.WaitFor(t, n, 5*time.Second, "offline", isStatus("a", false))
	if ev := sink.Events()[off]; !strings.Contains(ev.Text, "port") {
		t.Errorf("offline reason %q does not name the port", ev.Text)
	}
	before := tries()
	waitUntil(t, 5*time.Second, "a few failed reopens", func() bool { return tries() >= before+3 })
	pair.Replug()
	serveOn(t, pair, slave)
	on := sink.WaitFor(t, off, 5*time.Second, "online", isStatus("a", true))
	sink.WaitFor(t, on, 5*time.Second, "value again", func(e edge.Event) bool { return e.Point == "v" && e.Value == 7 })
	if st := d.Stats(); st[0].Reconnects == 0 {
		t.Errorf("reconnect not counted: %+v", st)
	}
	offs := 0
	for _, e := range sink.Events() {
		if e.Kind == edge.KindStatus && !e.IsOnline() {
			offs++
		}
	}
	if offs != 1 {
		t.Errorf("%d offline events for one unplug, want 1", offs)
	}
}

// TestMasterKeepsSilence: between the end of a response and the next
// request the master leaves at least t3.5 (here 1200 baud: 32ms), as the
// spec requires. (A lower bound, i.e. correctness; speed is benchmarked.)
func TestMasterKeepsSilence(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	line := Line{Port: pair.Path(), Baud: 1200, Parity: "even"}
	m, err := NewMaster(line)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	req := mustRead(t, FuncReadHoldingRegisters, 0, 1)
	resp := AppendADU(nil, 1, PDU{3, []byte{2, 0, 42}})
	var (
		mu    sync.Mutex
		times []time.Time // when each response was written, and when each request came
	)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := pair.Read(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			mu.Lock()
			times = append(times, time.Now())
			pair.Write(resp)
			times = append(times, time.Now())
			mu.Unlock()
		}
	}()
	for range 3 {
		if _, _, err := m.Do(t.Context(), 1, req, Tx{Timeout: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 2; i+1 < len(times); i += 2 {
		if gap := times[i].Sub(times[i-1]); gap < line.Silence()-time.Millisecond {
			t.Errorf("gap between frames %v, want at least t3.5 = %v", gap, line.Silence())
		}
	}
}

func TestSharedBus(t *testing.T) {
	a, relA, err := acquireMaster(Line{Port: "/dev/shared-test", Baud: 9600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, relB, err := acquireMaster(Line{Port: "/dev/shared-test", Baud: 9600, Parity: "even"}, nil)
	if err != nil || a != b {
		t.Fatalf("same settings: got %p, %p, %v; want one master", a, b, err)
	}
	if _, _, err := acquireMaster(Line{Port: "/dev/shared-test", Baud: 19200}, nil); err == nil || !strings.Contains(err.Error(), "same settings") {
		t.Errorf("conflicting baud: got %v", err)
	}
	relA()
	relA() // idempotent
	relB()
	c, relC, _ := acquireMaster(Line{Port: "/dev/shared-test", Baud: 19200}, nil)
	defer relC()
	if c == a {
		t.Error("master kept after its last user released it")
	}
}

func TestOptionsErrors(t *testing.T) {
	base := "port: /dev/ttyUSB0\n"
	dev := func(pt string) string { return base + "devices: [{id: d, slave: 1, points: [" + pt + "]}]\n" }
	for _, tc := range []struct{ yaml, field string }{
		{"devices: [{id: d, slave: 1, points: [{name: p, table: coil, address: 0}]}]", "port"},
		{base + "baud: 5", "baud"},
		{base + "parity: mark\ndevices: []", "parity"},
		{base + "devices: []", "devices"},
		{base + "devices: [{id: d, slave: 0, points: [{name: p, table: coil}]}]", "devices[0].slave"},
		{base + "devices: [{id: d, slave: 1, points: []}]", "devices[0].points"},
		{base + "devices: [{id: d, slave: 1, points: [{name: p, table: coil}]}, {id: d, slave: 2, points: [{name: p, table: coil}]}]", "devices[1].id"},
		{dev("{name: p, table: registers}"), "devices[0].points[0].table"},
		{dev("{name: p, table: holding, type: int128}"), "devices[0].points[0].type"},
		{dev("{name: p, table: coil, type: int16}"), "devices[0].points[0].type"},
		{dev("{name: p, table: holding, bit: 16}"), "devices[0].points[0].bit"},
		{dev("{name: p, table: holding, type: int16, word_order: little}"), "devices[0].points[0].word_order"},
		{dev("{name: p, table: holding, type: int32, address: 65535}"), "devices[0].points[0].address"},
		{dev("{name: p, table: holding, scale: 0}"), "devices[0].points[0].scale"},
		{dev("{name: p, table: holding}, {name: p, table: input}"), "devices[0].points[1].name"},
		{dev("{name: p, table: holding, group: nope}"), "devices[0].points[0].group"},
		{dev("{name: p, table: coil, unit: C}"), "devices[0].points[0]"},
		{dev("{name: p, table: input, on: open}"), "devices[0].points[0]"},
		{base + "groups: [{name: g, interval: 1ms}]\ndevices: []", "groups[0].interval"},
		{base + "timeout: 2m\ndevices: []", "timeout"},
		{base + "timeout: -1s\ndevices: []", "timeout"},
		{base + "retries: 11\ndevices: []", "retries"},
		{base + "inter_request_delay: -5ms\ndevices: []", "inter_request_delay"},
		{base + "inter_request_delay: 11s\ndevices: []", "inter_request_delay"},
		{base + "busy_retry: {times: -1}\ndevices: []", "busy_retry.times"},
		{base + "busy_retry: {times: 2, delay: 1h}\ndevices: []", "busy_retry.delay"},
		{base + "offline_after: -1\ndevices: []", "offline_after"},
		{base + "devices: [{id: d, slave: 1, timeout: 90s, points: [{name: p, table: coil}]}]", "devices[0].timeout"},
		{base + "devices: [{id: d, slave: 1, retries: 20, points: [{name: p, table: coil}]}]", "devices[0].retries"},
		{base + "devices: [{id: d, slave: 1, busy_retry: {times: 11}, points: [{name: p, table: coil}]}]", "devices[0].busy_retry.times"},
		{base + "devices: [{id: d, slave: 1, inter_request_delay: -1ms, points: [{name: p, table: coil}]}]", "devices[0].inter_request_delay"},
		{base + "devices: [{id: d, slave: 1, offline_after: -2, points: [{name: p, table: coil}]}]", "devices[0].offline_after"},
	} {
		_, err := New(edge.Env{}, opts(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") {
			t.Errorf("%s\n  got %v, want an error naming %s", tc.yaml, err, tc.field)
		}
	}
	if _, err := New(edge.Env{}, opts(base+"baudrate: 9600\n")); err == nil || !strings.Contains(err.Error(), "baudrate") {
		t.Errorf("unknown key: got %v", err)
	}
	for _, tc := range []struct{ yaml, field string }{
		{base + "slave: 1\ntable: input", "table"},
		{base + "slave: 300", "slave"},
		{base + "slave: 1\non_value: 5", "on_value"},
		{base + "slave: 1\ntable: holding\non_value: 70000", "on_value"},
		{base + "slave: 1\ntimeout: 0.5ms", "timeout"},
		{base + "slave: 1\nbusy_retry: {delay: -1s}", "busy_retry.delay"},
	} {
		_, err := NewOutput(edge.Env{}, opts(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") {
			t.Errorf("output %s\n  got %v, want an error naming %s", tc.yaml, err, tc.field)
		}
	}
}

func TestPlanBlocks(t *testing.T) {
	d, err := New(edge.Env{}, opts(`
port: /dev/x
devices:
  - id: d
    slave: 1
    max_read: 4
    points:
      - {name: a, table: holding, address: 0}
      - {name: b, table: holding, address: 1, type: float32}
      - {name: c, table: holding, address: 2, bit: 3}
      - {name: e, table: holding, address: 5}
      - {name: f, table: holding, address: 10}
      - {name: g, table: coil, address: 0}
      - {name: h, table: coil, address: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range d.groups[0].blocks {
		got = append(got, fmt.Sprintf("%s:%d+%d", b.table, b.addr, b.qty))
	}
	// holding 0..2 merge (b is 2 words, c is in b's second word); 3 and 4
	// are a gap, never read across, so 5 starts a block, and 10 another.
	want := "coil:0+2 holding:0+3 holding:5+1 holding:10+1"
	if strings.Join(got, " ") != want {
		t.Errorf("blocks %v, want %s", got, want)
	}
}

func TestProbeArgs(t *testing.T) {
	tab, addr, n, err := ParseReadSpec("holding:0:4")
	if err != nil || tab != Holding || addr != 0 || n != 4 {
		t.Errorf("holding:0:4 = %v %v %v %v", tab, addr, n, err)
	}
	if _, _, n, err := ParseReadSpec("coil:7"); err != nil || n != 1 {
		t.Errorf("coil:7: %v %v", n, err)
	}
	for _, bad := range []string{"holding", "reg:0:1", "holding:x:1", "holding:0:0", "holding:70000:1"} {
		if _, _, _, err := ParseReadSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, r := range []ProbeRequest{
		{Slave: 0, Table: Holding, Count: 1},
		{Slave: 1, Table: Holding, Count: 3, Type: TypeInt32},
		{Slave: 1, Table: Coil, Count: 1, Type: TypeInt16},
		{Slave: 1, Table: Holding, Count: 126},
	} {
		if err := ProbeWith(context.Background(), nil, r, nil); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
	if err := probeErr(ErrTimeout, ""); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "wiring") {
		t.Errorf("timeout advice: %v", err)
	}
	if err := probeErr(ErrTimeout, "zh-CN"); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "接线") {
		t.Errorf("timeout advice in zh-CN: %v", err)
	}
}

// TestDriverSinkRefuses: events the core refuses are counted and polling
// goes on.
func TestDriverSinkRefuses(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	bank := newBank()
	slave := modbustest.New(map[byte]*modbustest.Bank{1: bank})
	serveOn(t, pair, slave)
	d, err := New(edge.Env{Name: "bus"}, opts(`
port: `+pair.Path()+`
baud: 115200
timeout: 200ms
groups: [{name: g, interval: 10ms, report_every: 0s}]
devices:
  - {id: a, slave: 1, points: [{name: v, table: holding, address: 0}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	refuse := edge.SinkFunc(func(edge.Event) error { return edge.ErrClosed })
	go func() { done <- d.Run(ctx, refuse) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, 5*time.Second, "refused events counted while polling goes on", func() bool {
		return d.Dropped() >= 2 && d.Counters("a").Frames >= 5
	})
}

// TestMasterEcho: with echo on, the adapter's copy of each request is
// skipped; with it off, the same line fails (so the option matters).
func TestMasterEcho(t *testing.T) {
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	bank := newBank()
	bank.Holding[0], bank.Holding[1] = 11, 22
	slave := modbustest.New(map[byte]*modbustest.Bank{1: bank})
	slave.Echo = true
	serveOn(t, pair, slave)
	tx := Tx{Timeout: 200 * time.Millisecond}
	m, err := NewMaster(Line{Port: pair.Path(), Baud: 115200, Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		regs, err := m.ReadRegisters(t.Context(), 1, FuncReadHoldingRegisters, 0, 2, tx)
		if err != nil || len(regs) != 2 || regs[0] != 11 || regs[1] != 22 {
			t.Fatalf("with echo: got %v, %v", regs, err)
		}
	}
	if err := m.Write(t.Context(), 1, WriteSingleRegister(3, 7), tx); err != nil {
		t.Fatalf("write with echo: %v", err)
	}
	m.Close()
	m, err = NewMaster(Line{Port: pair.Path(), Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The echoed request 01 03 00 00 00 02 .. is taken for a response with
	// byte count 0: a CRC error, not a value.
	if _, err := m.ReadRegisters(t.Context(), 1, FuncReadHoldingRegisters, 0, 2, tx); err == nil {
		t.Fatal("without echo on an echoing line: no error")
	}
}

// TestPlanBlocksGap: max_gap merges points across unused registers, up to
// max_read and the 125-register limit, and splits them back.
func TestPlanBlocksGap(t *testing.T) {
	points := `
    points:
      - {name: a, table: holding, address: 0}
      - {name: b, table: holding, address: 3, type: float32}
      - {name: c, table: holding, address: 10}
      - {name: d, table: holding, address: 120, type: uint64}
      - {name: e, table: holding, address: 200}
      - {name: g, table: coil, address: 0}
      - {name: h, table: coil, address: 40}
`
	for _, tc := range []struct{ opts, want string }{
		{"", "coil:0+1 coil:40+1 holding:0+1 holding:3+2 holding:10+1 holding:120+4 holding:200+1"},
		{"max_gap: 1", "coil:0+1 coil:40+1 holding:0+1 holding:3+2 holding:10+1 holding:120+4 holding:200+1"},
		{"max_gap: 2", "coil:0+1 coil:40+1 holding:0+5 holding:10+1 holding:120+4 holding:200+1"},
		{"max_gap: 5", "coil:0+41 holding:0+11 holding:120+4 holding:200+1"},
		// 0..123 is 124 registers, within 125; 200 would pass it.
		{"max_gap: 110", "coil:0+41 holding:0+124 holding:200+1"},
		{"max_gap: 110\n    max_read: 20", "coil:0+41 holding:0+11 holding:120+4 holding:200+1"},
		{"max_gap: 3", "coil:0+41 holding:0+5 holding:10+1 holding:120+4 holding:200+1"},
	} {
		d, err := New(edge.Env{}, opts("port: /dev/x\ndevices:\n  - id: d\n    slave: 1\n    "+tc.opts+points))
		if err != nil {
			t.Fatalf("%s: %v", tc.opts, err)
		}
		var got []string
		for _, b := range d.groups[0].blocks {
			got = append(got, fmt.Sprintf("%s:%d+%d", b.table, b.addr, b.qty))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%q: got %v, want %s", tc.opts, got, tc.want)
		}
	}
	// The bus's max_gap is every device's default.
	d, err := New(edge.Env{}, opts("port: /dev/x\nmax_gap: 2\ndevices:\n  - id: d\n    slave: 1\n"+points))
	if err != nil || len(d.groups[0].blocks) != 6 {
		t.Errorf("bus max_gap: got %v blocks, %v", len(d.groups[0].blocks), err)
	}
}

// TestEmitDecoded: one merged block split back into points of every kind,
// scaled and rounded as configured.
func TestEmitDecoded(t *testing.T) {
	d, err := New(edge.Env{}, opts(`
port: /dev/x
max_gap: 8
devices:
  - id: m
    slave: 1
    points:
      - {name: temp, table: input, address: 0, type: int16, scale: 0.1}
      - {name: energy, table: input, address: 1, type: uint32, order: DCBA, scale: 0.01}
      - {name: counter, table: input, address: 3, type: uint64, order: CDAB}
      - {name: volts, table: input, address: 7, type: float32, order: BADC}
      - {name: power, table: input, address: 9, type: float64, order: ABCD, decimals: 2}
      - {name: mode, table: input, address: 13, bits: 4-7}
      - {name: alarm, table: input, address: 13, bit: 15, on: alarm, off: ok}
      - {name: serial, table: input, address: 20, type: string, registers: 3, order: BADC}
      - {name: offset, table: input, address: 14, offset: -0.5}
      - {name: raw, table: input, address: 15, scale: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	blocks := d.groups[0].blocks
	if len(blocks) != 1 || blocks[0].addr != 0 || blocks[0].qty != 23 {
		t.Fatalf("blocks: %+v", blocks)
	}
	regs := make([]uint16, 23)
	regs[0] = 222                                  // 22.2
	copy(regs[1:], []uint16{0x3930, 0x0000})       // 12345 as DCBA: bytes 39 30 00 00 reversed -> 123.45
	copy(regs[3:], []uint16{0x0000, 0x0001, 0, 0}) // CDAB: words from the last: 0000 0000 0001 0000
	f32, _ := Encode(230.1, TypeFloat32, OrderBADC)
	copy(regs[7:], f32)
	f64, _ := Encode(1234.5678, TypeFloat64, OrderABCD)
	copy(regs[9:], f64)
	regs[13] = 0x80A0 // bits 4-7: 10; bit 15 set
	regs[14] = 3
	regs[15] = 21
	copy(regs[20:], []uint16{0x5344, 0x315A, 0x0032}) // "DSZ12" byte-swapped, then NUL
	data := []byte{byte(2 * len(regs))}
	for _, r := range regs {
		data = append(data, byte(r>>8), byte(r))
	}
	sink := newCollector()
	d.emitBlock(blocks[0], d.groups[0], PDU{Function: 4, Data: data}, sink)
	got := map[string]edge.Event{}
	for _, e := range sink.Events() {
		got[e.Point] = e
	}
	for _, tc := range []struct {
		point string
		v     float64
		text  string
	}{
		{"temp", 22.2, ""}, {"energy", 123.45, ""}, {"counter", 65536, ""}, {"volts", 230.1, ""},
		{"power", 1234.57, ""}, {"mode", 10, ""}, {"alarm", 1, "alarm"}, {"serial", 0, "DSZ12"},
		{"offset", 2.5, ""}, {"raw", 42, ""},
	} {
		e, ok := got[tc.point]
		if !ok || e.Value != tc.v || e.Text != tc.text {
			t.Errorf("%s: got %+v, want value %v text %q", tc.point, e, tc.v, tc.text)
		}
	}
	// A string is sent again only when it changes.
	n := sink.Len()
	d.emitBlock(blocks[0], d.groups[0], PDU{Function: 4, Data: data}, sink)
	for _, e := range sink.Events()[n:] {
		if e.Point == "serial" {
			t.Errorf("unchanged string sent again: %+v", e)
		}
	}
}

func TestPointOptionErrors(t *testing.T) {
	base := "port: /dev/x\ndevices:\n  - id: d\n    slave: 1\n    points:\n      - "
	for _, tc := range []struct{ point, field string }{
		{"{name: p, table: holding, type: string}", "registers"},
		{"{name: p, table: holding, type: string, registers: 126}", "registers"},
		{"{name: p, table: holding, type: string, registers: 2, order: CDAB}", "order"},
		{"{name: p, table: holding, type: uint16, registers: 2}", "registers"},
		{"{name: p, table: holding, type: int32, order: ACBD}", "order"},
		{"{name: p, table: holding, type: int32, order: CDAB, word_order: little}", "word_order"},
		{"{name: p, table: coil, order: CDAB}", "order"},
		{"{name: p, table: holding, bits: 7-4}", "bits"},
		{"{name: p, table: holding, bits: 0-16}", "bits"},
		{"{name: p, table: holding, bits: 1-2, bit: 3}", "bits"},
		{"{name: p, table: holding, bits: 1-2, type: int32}", "type"},
		{"{name: p, table: holding, decimals: 13}", "decimals"},
		{"{name: p, table: holding, bit: 1, decimals: 1}", "points[0]"},
		{"{name: p, table: holding, type: string, registers: 2, scale: 2}", "points[0]"},
		{"{name: p, table: holding, scale: .nan}", "scale"},
	} {
		_, err := New(edge.Env{}, opts(base+tc.point))
		if err == nil || !strings.Contains(err.Error(), "points[0]") || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s\n  got %v, want an error naming %s", tc.point, err, tc.field)
		}
	}
	if _, err := New(edge.Env{}, opts("port: /dev/x\nmax_gap: 124\ndevices: [{id: d, slave: 1, points: [{name: p, table: coil}]}]")); err == nil || !strings.Contains(err.Error(), "max_gap") {
		t.Errorf("max_gap 124: got %v", err)
	}
}
