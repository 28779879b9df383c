//go:build linux

package modbus

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// libSlave is scripts/modbus-slave/slave.c (libmodbus) running as slave
// address 1 (or a range of addresses) on one end of a socat pty pair; Port
// is the other end.
type libSlave struct {
	Port    string
	control string
	t       *testing.T
}

func buildLibSlave(t *testing.T) string {
	t.Helper()
	cc := needTool(t, "cc", "gcc")
	if _, err := os.Stat("/usr/include/modbus/modbus.h"); err != nil {
		missing(t, "libmodbus headers are not installed (apt-get install -y libmodbus-dev)")
	}
	src, err := filepath.Abs("../../scripts/modbus-slave/slave.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "slave")
	out, err := exec.Command(cc, "-O1", "-o", bin, src, "-I/usr/include/modbus", "-lmodbus").CombinedOutput()
	if err != nil {
		t.Fatalf("build libmodbus slave: %v\n%s", err, out)
	}
	return bin
}

func startLibSlave(t *testing.T) *libSlave { return startLibSlaves(t, "1") }

// startLibSlaves runs the slave for addresses, "1" or a range "1-4".
func startLibSlaves(t *testing.T, addresses string) *libSlave {
	t.Helper()
	bin := buildLibSlave(t)
	pair := ptytest.NewSocat(t)
	s := &libSlave{Port: pair.A, control: filepath.Join(t.TempDir(), "mode"), t: t}
	s.Mode("normal")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, pair.B, addresses, "115200", s.control)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("libmodbus slave stderr:\n%s", stderr.String())
		}
	})
	return s
}

// Mode switches the slave's behaviour: normal, silent, crc, busy [K],
// late K MS (see slave.c).
func (s *libSlave) Mode(m string) {
	if err := os.WriteFile(s.control, []byte(m), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *libSlave) master(t *testing.T) *Master {
	m, err := NewMaster(Line{Port: s.Port, Baud: 115200, Parity: "even"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fastTx is generous: the libmodbus slave answers in well under a
// millisecond, but a loaded CI box may schedule it late, and a spurious
// timeout would fail tests that count retries.
var fastTx = Tx{Timeout: time.Second, Retries: 1}

// TestLibmodbusSlave runs the master against libmodbus: reads of every
// type, the four write functions read back, exceptions, CRC errors and a
// silent slave.
func TestLibmodbusSlave(t *testing.T) {
	s := startLibSlave(t)
	m := s.master(t)
	ctx := t.Context()

	t.Run("reads", func(t *testing.T) {
		regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 0, 15, fastTx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at  int
			typ DataType
			o   WordOrder
			v   float64
		}{
			{0, TypeUint16, WordsBig, 1234},
			{1, TypeInt16, WordsBig, -123},
			{2, TypeInt32, WordsBig, -123456},
			{4, TypeInt32, WordsLittle, -123456},
			{6, TypeUint32, WordsBig, 3000000000},
			{8, TypeUint32, WordsLittle, 3000000000},
			{10, TypeFloat32, WordsBig, 21.5},
			{12, TypeFloat32, WordsLittle, 21.5},
			{14, TypeUint16, WordsBig, 0x8421},
		} {
			if v, err := Decode(regs[tc.at:], tc.typ, tc.o); err != nil || v != tc.v {
				t.Errorf("holding %d as %s/%s: got %v, %v; want %v", tc.at, tc.typ, tc.o, v, err, tc.v)
			}
		}
		in, err := m.ReadRegisters(ctx, 1, FuncReadInputRegisters, 0, 4, fastTx)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := Decode(in[1:], TypeInt16, WordsBig); in[0] != 215 || v != -10 {
			t.Errorf("input 0..1: got %v", in)
		}
		if v, _ := Decode(in[2:], TypeFloat32, WordsBig); v != -3.75 {
			t.Errorf("input 2..3 float32: got %v", v)
		}
		for _, tc := range []struct {
			fn      byte
			pattern uint16
		}{{FuncReadCoils, 0xA5C3}, {FuncReadDiscreteInputs, 0x3C5A}} {
			bits, err := m.ReadBits(ctx, 1, tc.fn, 0, 16, fastTx)
			if err != nil {
				t.Fatal(err)
			}
			// an odd count and offset too: 5 bits from 3
			part, err := m.ReadBits(ctx, 1, tc.fn, 3, 5, fastTx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 16 {
				if want := tc.pattern>>i&1 == 1; bits[i] != want {
					t.Errorf("function %d bit %d: got %v, want %v", tc.fn, i, bits[i], want)
				}
				if i >= 3 && i < 8 && part[i-3] != bits[i] {
					t.Errorf("function %d bit %d read from 3: got %v", tc.fn, i, part[i-3])
				}
			}
		}
	})

	t.Run("writes", func(t *testing.T) {
		for _, on := range []bool{true, false} {
			if err := m.Write(ctx, 1, WriteSingleCoil(2, on), fastTx); err != nil { // fc 5
				t.Fatal(err)
			}
			if b, err := m.ReadBits(ctx, 1, FuncReadCoils, 2, 1, fastTx); err != nil || b[0] != on {
				t.Fatalf("coil 2 after writing %v: got %v, %v", on, b, err)
			}
		}
		if err := m.Write(ctx, 1, WriteSingleRegister(20, 0xBEEF), fastTx); err != nil { // fc 6
			t.Fatal(err)
		}
		pattern := []bool{true, true, false, true, false, false, true, false, true}
		req, _ := WriteMultipleCoils(4, pattern) // fc 15
		if err := m.Write(ctx, 1, req, fastTx); err != nil {
			t.Fatal(err)
		}
		vals, _ := Encode(-98765.25, TypeFloat32, WordsLittle)
		vals = append([]uint16{7, 8}, vals...)
		req, _ = WriteMultipleRegisters(21, vals) // fc 16
		if err := m.Write(ctx, 1, req, fastTx); err != nil {
			t.Fatal(err)
		}
		regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 20, 5, fastTx)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := Decode(regs[3:], TypeFloat32, WordsLittle); regs[0] != 0xBEEF || regs[1] != 7 || regs[2] != 8 || f != -98765.25 {
			t.Errorf("holding 20..24: got %04x (float %v)", regs, f)
		}
		bits, err := m.ReadBits(ctx, 1, FuncReadCoils, 4, uint16(len(pattern)), fastTx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pattern {
			if bits[i] != pattern[i] {
				t.Errorf("coil %d: got %v, want %v", 4+i, bits[i], pattern[i])
			}
		}
	})

	t.Run("output driver", func(t *testing.T) {
		m.Close() // the output opens the port itself; the master above holds it (a port is never shared)
		for _, tc := range []struct{ opts, table string }{
			{"table: coil\naddress: 9", "coil"},
			{"table: coil\naddress: 9\nmultiple: true", "coil"},
			{"table: holding\naddress: 30\non_value: 500\noff_value: 3", "holding"},
			{"table: holding\naddress: 30\non_value: 600\nmultiple: true", "holding"},
		} {
			o, err := NewOutput(edge.Env{Name: "relay"}, opts("port: "+s.Port+"\nbaud: 115200\ntimeout: 200ms\nslave: 1\n"+tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			for _, on := range []bool{true, false} {
				if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: on}); err != nil {
					t.Fatalf("%s on=%v: %v", tc.opts, on, err)
				}
				// The output holds the port; read back through the same bus.
				o.mu.Lock()
				om := o.m
				o.mu.Unlock()
				var got, want uint16
				if tc.table == "coil" {
					b, err := readBits(ctx, om, 1, FuncReadCoils, 9, 1, fastTx)
					if err != nil {
						t.Fatal(err)
					}
					if b[0] {
						got = 1
					}
					if on {
						want = 1
					}
				} else {
					r, err := readRegisters(ctx, om, 1, FuncReadHoldingRegisters, 30, 1, fastTx)
					if err != nil {
						t.Fatal(err)
					}
					got, want = r[0], o.off
					if on {
						want = o.on
					}
				}
				if got != want {
					t.Errorf("%q on=%v: read back %d, want %d", tc.opts, on, got, want)
				}
			}
			if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "x"}); !errors.Is(err, edge.ErrUnsupported) {
				t.Errorf("OpSend: got %v, want ErrUnsupported", err)
			}
			o.Close()
		}
	})

	t.Run("exception", func(t *testing.T) {
		_, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 48, 4, fastTx)
		var ex *ExceptionError
		if !errors.As(err, &ex) || ex.Code != ExIllegalDataAddress || !strings.Contains(err.Error(), "ILLEGAL DATA ADDRESS") {
			t.Fatalf("read past the map: got %v, want ILLEGAL DATA ADDRESS", err)
		}
		s.Mode("busy")
		defer s.Mode("normal")
		_, st, err := m.Do(ctx, 1, WriteSingleRegister(20, 1), fastTx)
		if !errors.As(err, &ex) || ex.Code != ExSlaveDeviceBusy || !strings.Contains(err.Error(), "SLAVE DEVICE BUSY") {
			t.Fatalf("busy slave: got %v", err)
		}
		if st.Attempts != 1 {
			t.Errorf("an exception was retried: %d attempts", st.Attempts)
		}
		// busy_retry: every 2nd answer busy, so one repeat gets through.
		s.Mode("busy 2")
		for range 4 {
			_, st, err := m.Do(ctx, 1, WriteSingleRegister(20, 1), Tx{Timeout: time.Second, BusyRetries: 1, BusyDelay: 10 * time.Millisecond})
			if err != nil || st.Attempts > 2 || len(st.Exceptions) != st.Attempts-1 {
				t.Fatalf("busy every 2nd answer, one busy retry: got %v, %+v", err, st)
			}
		}
	})

	t.Run("crc error", func(t *testing.T) {
		s.Mode("crc")
		defer s.Mode("normal")
		_, st, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 4), Tx{Timeout: 200 * time.Millisecond, Retries: 1})
		if !errors.Is(err, ErrCRC) {
			t.Fatalf("got %v, want ErrCRC", err)
		}
		if st.CRCErrors != 2 || st.Attempts != 2 {
			t.Errorf("stats %+v, want 2 attempts with a CRC error each", st)
		}
		s.Mode("normal")
		if _, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 0, 4, fastTx); err != nil {
			t.Fatalf("after CRC errors the next read fails: %v", err)
		}
	})

	t.Run("silent slave", func(t *testing.T) {
		s.Mode("silent")
		defer s.Mode("normal")
		_, st, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 4), Tx{Timeout: 50 * time.Millisecond, Retries: 2})
		if !errors.Is(err, ErrTimeout) || st.Timeouts != 3 {
			t.Fatalf("got %v with %+v, want ErrTimeout after 3 attempts", err, st)
		}
	})

	t.Run("probe", func(t *testing.T) {
		var out bytes.Buffer
		for _, r := range []ProbeRequest{
			{Table: Holding, Address: 2, Count: 4, Type: TypeInt32},
			{Table: Holding, Address: 10, Count: 2, Type: TypeFloat32},
			{Table: Holding, Address: 12, Count: 2, Type: TypeFloat32, WordOrder: WordsLittle},
			{Table: Holding, Address: 8, Count: 2, Type: TypeUint32, WordOrder: WordsLittle},
			{Table: Discrete, Address: 0, Count: 2},
		} {
			r.Slave, r.Timeout = 1, time.Second
			if err := ProbeWith(ctx, m, r, &out); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []string{"holding 2-3", "= -123456", "holding 4-5", "= 21.5", "holding 12-13", "= 3000000000", "discrete 1", "(on)"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("probe output lacks %q:\n%s", want, out.String())
			}
		}
		// The second int32 of holding 2..5 is stored low word first, so
		// read big it is not -123456: both values are printed.
		if strings.Count(out.String(), "-123456") != 1 {
			t.Errorf("probe output:\n%s", out.String())
		}
		err := ProbeWith(ctx, m, ProbeRequest{Slave: 1, Table: Holding, Address: 60, Count: 1, Timeout: time.Second}, &out)
		if err == nil || !strings.Contains(err.Error(), "ILLEGAL DATA ADDRESS") {
			t.Errorf("probe of a missing register: got %v", err)
		}
	})
}

// TestLibmodbusDriver runs the input driver against libmodbus: every point
// type is emitted with its value; the slave going silent takes the device
// offline after offline_after failures, and it comes back online.
func TestLibmodbusDriver(t *testing.T) {
	s := startLibSlave(t)
	d, err := New(edge.Env{Name: "rs485-1"}, opts(`
port: `+s.Port+`
baud: 115200
timeout: 250ms
retries: 0
offline_after: 2
groups:
  - {name: fast, interval: 20ms}
devices:
  - id: meter
    slave: 1
    location: c1/b1
    points:
      - {name: u16, table: holding, address: 0}
      - {name: i16, table: holding, address: 1, type: int16}
      - {name: i32b, table: holding, address: 2, type: int32}
      - {name: i32l, table: holding, address: 4, type: int32, word_order: little}
      - {name: u32b, table: holding, address: 6, type: uint32, scale: 0.001}
      - {name: u32l, table: holding, address: 8, type: uint32, word_order: little}
      - {name: f32b, table: holding, address: 10, type: float32}
      - {name: f32l, table: holding, address: 12, type: float32, word_order: little, offset: -1.5}
      - {name: bit0, table: holding, address: 14, bit: 0, on: open, off: closed}
      - {name: bit1, table: holding, address: 14, bit: 1}
      - {name: temp, table: input, address: 0, type: int16, scale: 0.1, unit: C}
      - {name: coil0, table: coil, address: 0}
      - {name: coil2, table: coil, address: 2, invert: true}
      - {name: di1, table: discrete, address: 1, on: alarm, off: normal}
`))
	if err != nil {
		t.Fatal(err)
	}
	d.backoffMin = 20 * time.Millisecond
	sink := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	sink.WaitFor(t, 0, 5*time.Second, "online", isStatus("meter", true))
	want := map[string]struct {
		v    float64
		text string
	}{
		"u16": {1234, ""}, "i16": {-123, ""}, "i32b": {-123456, ""}, "i32l": {-123456, ""},
		"u32b": {3000000, ""}, "u32l": {3000000000, ""}, "f32b": {21.5, ""}, "f32l": {20, ""},
		"bit0": {1, "open"}, "bit1": {0, "off"}, "temp": {21.5, ""},
		"coil0": {1, "on"}, "coil2": {1, "on"}, "di1": {1, "alarm"},
	}
	got := map[string]edge.Event{}
	sink.WaitFor(t, 0, 5*time.Second, "every point", func(e edge.Event) bool {
		if e.Kind == edge.KindReading || e.Kind == edge.KindState {
			got[e.Point] = e
		}
		return len(got) == len(want)
	})
	for name, w := range want {
		e := got[name]
		if e.Device != "meter" || e.Value != w.v || e.Text != w.text {
			t.Errorf("point %s: got %+v, want value %v text %q", name, e, w.v, w.text)
		}
		if wantKind := edge.KindReading; w.text != "" && e.Kind == wantKind {
			t.Errorf("point %s: a bit is a state change, got a reading", name)
		}
	}
	if got["temp"].Unit != "C" {
		t.Errorf("temp unit %q", got["temp"].Unit)
	}
	// Nothing changes: no event is repeated (report_every is 5m) over
	// several more polls.
	n := sink.Len()
	frames := d.Counters("meter").Frames
	waitUntil(t, 5*time.Second, "5 more polls", func() bool { return d.Counters("meter").Frames >= frames+5*4 })
	if extra := sink.Events()[n:]; len(extra) > 0 {
		t.Errorf("unchanged values were sent again: %+v", extra)
	}

	s.Mode("silent")
	i := sink.WaitFor(t, n, 5*time.Second, "offline", isStatus("meter", false))
	if c := d.Counters("meter"); c.Timeouts < 2 || c.Online {
		t.Errorf("counters while silent: %+v", c)
	}
	s.Mode("normal")
	j := sink.WaitFor(t, i, 5*time.Second, "online again", isStatus("meter", true))
	// Back online, every value is sent again.
	sink.WaitFor(t, j, 5*time.Second, "values again", func(e edge.Event) bool { return e.Point == "i32l" && e.Value == -123456 })

	st := d.Stats()
	if len(st) != 1 || st[0].Errors == 0 || st[0].Frames == 0 || st[0].LastError == "" {
		t.Errorf("stats: %+v", st)
	}
}

// TestLibmodbusDriverCRC: a slave whose answers keep failing their CRC is
// counted and goes offline like a silent one.
func TestLibmodbusDriverCRC(t *testing.T) {
	s := startLibSlave(t)
	d, err := New(edge.Env{Name: "rs485-1"}, opts(`
port: `+s.Port+`
baud: 115200
timeout: 200ms
offline_after: 2
groups: [{name: fast, interval: 20ms}]
devices:
  - {id: meter, slave: 1, points: [{name: u16, table: holding, address: 0}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	i := sink.WaitFor(t, 0, 5*time.Second, "online", isStatus("meter", true))
	s.Mode("crc")
	j := sink.WaitFor(t, i, 5*time.Second, "offline on CRC errors", isStatus("meter", false))
	if c := d.Counters("meter"); c.CRCErrors < 4 || c.Timeouts != 0 || c.Causes[CauseCRC] != c.CRCErrors {
		t.Errorf("counters: %+v, want >= 4 CRC errors (2 requests with a retry each) and no timeouts", c)
	}
	if st := d.Stats(); st[0].ErrorsByCause[CauseCRC] < 4 {
		t.Errorf("stats: %+v, want the CRC errors by cause", st)
	}
	s.Mode("normal")
	sink.WaitFor(t, j, 5*time.Second, "online again", isStatus("meter", true))
}
