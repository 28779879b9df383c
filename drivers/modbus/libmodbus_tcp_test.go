//go:build linux

package modbus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// startLibTCP runs scripts/modbus-slave/slave.c as a Modbus TCP server
// (libmodbus's modbus_tcp_listen) for units, "1" or "1-4", and returns its
// host:port; Mode switches its behaviour as for the RTU slave.
func startLibTCP(t *testing.T, units string) (*libSlave, string) {
	t.Helper()
	bin := buildLibSlave(t)
	s := &libSlave{control: filepath.Join(t.TempDir(), "mode"), t: t}
	s.Mode("normal")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "tcp:127.0.0.1", units, "0", s.control)
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("libmodbus server stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var port int
	if _, serr := fmt.Sscanf(line, "port %d", &port); err != nil || serr != nil {
		t.Fatalf("libmodbus server did not say its port: %q, %v\n%s", line, err, stderr.String())
	}
	return s, fmt.Sprintf("127.0.0.1:%d", port)
}

// TestLibmodbusTCP: the Modbus TCP master against libmodbus's TCP server:
// reads of every type, writes read back, exceptions; a server that answers
// late (the late answer is dropped by its transaction id, never taken for
// the next request's) and one that drops the connection.
func TestLibmodbusTCP(t *testing.T) {
	s, addr := startLibTCP(t, "1-4")
	m := tcpMaster(t, addr)
	ctx := t.Context()

	t.Run("reads and writes", func(t *testing.T) {
		regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 0, 15, fastTx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at   int
			typ  DataType
			o    WordOrder
			want string
		}{
			{0, TypeUint16, OrderABCD, "1234"}, {1, TypeInt16, OrderABCD, "-123"},
			{2, TypeInt32, OrderABCD, "-123456"}, {4, TypeInt32, OrderCDAB, "-123456"},
			{6, TypeUint32, OrderABCD, "3000000000"}, {8, TypeUint32, OrderCDAB, "3000000000"},
			{10, TypeFloat32, OrderABCD, "21.5"}, {12, TypeFloat32, OrderCDAB, "21.5"},
		} {
			if v, err := DecodeValue(regs[tc.at:], tc.typ, tc.o); err != nil || v.String() != tc.want {
				t.Errorf("holding %d as %s/%s: got %v, %v; want %s", tc.at, tc.typ, tc.o, v, err, tc.want)
			}
		}
		vals, _ := Encode(-1234567890123, TypeInt64, OrderDCBA)
		req, _ := WriteMultipleRegisters(20, vals)
		if err := m.Write(ctx, 2, req, fastTx); err != nil {
			t.Fatal(err)
		}
		back, err := m.ReadRegisters(ctx, 2, FuncReadHoldingRegisters, 20, 4, fastTx)
		if v, _ := DecodeValue(back, TypeInt64, OrderDCBA); err != nil || v.String() != "-1234567890123" {
			t.Errorf("int64 DCBA written and read back: got %v, %v", v, err)
		}
		if err := m.Write(ctx, 3, WriteSingleCoil(2, false), fastTx); err != nil {
			t.Fatal(err)
		}
		if b, err := m.ReadBits(ctx, 3, FuncReadCoils, 0, 4, fastTx); err != nil || b[2] || !b[0] {
			t.Errorf("coils after clearing 2: got %v, %v", b, err)
		}
		_, err = m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 48, 4, fastTx)
		var ex *ExceptionError
		if !errors.As(err, &ex) || ex.Code != ExIllegalDataAddress {
			t.Errorf("read past the map: got %v, want ILLEGAL DATA ADDRESS", err)
		}
	})

	t.Run("output driver", func(t *testing.T) {
		// The server takes one connection at a time, as small meters do:
		// the output connects itself, and the test reads back through it.
		m.Close()
		o, err := NewOutput(edge.Env{Name: "relay"}, opts("tcp: "+addr+"\nslave: 4\ntable: holding\naddress: 30\non_value: 77"))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		for _, on := range []bool{true, false} {
			if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: on}); err != nil {
				t.Fatal(err)
			}
			want := uint16(0)
			if on {
				want = 77
			}
			o.mu.Lock()
			om := o.m
			o.mu.Unlock()
			if r, err := readRegisters(ctx, om, 4, FuncReadHoldingRegisters, 30, 1, fastTx); err != nil || r[0] != want {
				t.Errorf("on=%v: read back %v, %v; want %d", on, r, err, want)
			}
		}
	})

	t.Run("late answers", func(t *testing.T) {
		// Every 4th answer comes 400ms late, after the 250ms timeout: it
		// is dropped by its transaction id (counted late) while the
		// retry's answer, right behind it, is taken.
		s.Mode("late 4 400")
		defer s.Mode("normal")
		tx := Tx{Timeout: 250 * time.Millisecond, Retries: 1}
		var late, good int
		for i := range 24 {
			unit := byte(1 + i%4)
			reg := uint16(40 + i%10)
			resp, st, err := m.Do(ctx, unit, mustRead(t, FuncReadHoldingRegisters, reg, 1), tx)
			late += st.Late
			if err != nil {
				continue
			}
			good++
			if got, want := Registers(resp)[0], uint16(100*int(unit)+int(reg-40)); got != want {
				t.Fatalf("unit %d holding %d: got %d, want %d: another request's answer", unit, reg, got, want)
			}
		}
		if late == 0 || good < 20 {
			t.Errorf("got %d late answers and %d good reads of 24, want some late and most good", late, good)
		}
	})

	t.Run("server drops the connection", func(t *testing.T) {
		s.Mode("drop")
		_, _, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 1), fastTx)
		if !errors.Is(err, ErrDisconnected) || PortCause(err) != CauseDisconnected || m.Connected() {
			t.Fatalf("dropped: got %v (cause %s, connected %v), want ErrDisconnected", err, PortCause(err), m.Connected())
		}
		s.Mode("normal")
		opens := m.Opens()
		if regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 0, 1, fastTx); err != nil || regs[0] != 1234 {
			t.Fatalf("after reconnect: got %v, %v", regs, err)
		}
		if m.Opens() != opens+1 {
			t.Errorf("opens %d, want %d", m.Opens(), opens+1)
		}
	})
}

// TestLibmodbusTCPDriver: the input driver on tcp: reads its points, takes
// its devices offline while the server drops every connection and brings
// them back; a closed port is refused and counted by cause.
func TestLibmodbusTCPDriver(t *testing.T) {
	s, addr := startLibTCP(t, "1-2")
	d, err := New(edge.Env{Name: "meters"}, opts(`
tcp: `+addr+`
timeout: 500ms
connect_timeout: 1s
retries: 0
offline_after: 1
max_gap: 10
groups: [{name: fast, interval: 20ms}]
devices:
  - id: m1
    slave: 1
    points:
      - {name: temp, table: input, address: 0, type: int16, scale: 0.1}
      - {name: f32, table: holding, address: 12, type: float32, order: CDAB}
  - id: m2
    slave: 2
    points:
      - {name: r45, table: holding, address: 45}
`))
	if err != nil {
		t.Fatal(err)
	}
	d.backoffMin, d.backoffMax = 20*time.Millisecond, 50*time.Millisecond
	sink := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	want := map[string]float64{"temp": 21.5, "f32": 21.5, "r45": 205}
	got := map[string]float64{}
	sink.WaitFor(t, 0, 5*time.Second, "every point", func(e edge.Event) bool {
		if e.Kind == edge.KindReading {
			got[e.Point] = e.Value
		}
		return len(got) == len(want)
	})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	n := sink.Len()
	s.Mode("drop")
	i := sink.WaitFor(t, n, 5*time.Second, "m2 offline", isStatus("m2", false))
	s.Mode("normal")
	sink.WaitFor(t, i, 5*time.Second, "m2 online again", isStatus("m2", true))
	if c := d.Counters("m1"); c.Causes[CauseDisconnected] == 0 {
		t.Errorf("m1 causes %v, want disconnected counted", c.Causes)
	}

	// Nothing listens: connect refused, by cause.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	d2, err := New(edge.Env{Name: "gone"}, opts("tcp: "+closed+"\ndevices: [{id: x, slave: 1, points: [{name: p, table: holding, address: 0}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	d2.backoffMin, d2.backoffMax = 10*time.Millisecond, 20*time.Millisecond
	sink2 := newCollector()
	go func() { d2.Run(ctx, sink2) }()
	sink2.WaitFor(t, 0, 5*time.Second, "offline", isStatus("x", false))
	waitUntil(t, 5*time.Second, "connect_refused counted", func() bool { return d2.Counters("x").Causes[CauseConnectRefused] >= 2 })
	if st := d2.Stats(); !strings.Contains(st[0].LastError, "refused") {
		t.Errorf("last error %q, want it to say refused", st[0].LastError)
	}
}

// deviceServer is a serial device server in transparent mode: a TCP
// listener whose connection's bytes go to and come from a pty, on whose
// other end the libmodbus RTU slave runs. Drop closes the current
// connection, as a device server does when it restarts.
type deviceServer struct {
	addr string
	mu   sync.Mutex
	conn net.Conn
}

func startDeviceServer(t *testing.T) (*libSlave, *deviceServer) {
	t.Helper()
	bin := buildLibSlave(t)
	pair := ptytest.New(t)
	s := &libSlave{control: filepath.Join(t.TempDir(), "mode"), t: t}
	s.Mode("normal")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, pair.Path(), "1-2", "115200", s.control)
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &deviceServer{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close(); ds.Drop() })
	go func() { // serial to the current connection
		buf := make([]byte, 512)
		for {
			n, err := pair.Read(buf)
			if err != nil {
				return
			}
			ds.mu.Lock()
			if ds.conn != nil {
				ds.conn.Write(buf[:n])
			}
			ds.mu.Unlock()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ds.Drop()
			ds.mu.Lock()
			ds.conn = c
			ds.mu.Unlock()
			go io.Copy(pair, c) // connection to serial, until it closes
		}
	}()
	return s, ds
}

func (ds *deviceServer) Drop() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.conn != nil {
		ds.conn.Close()
		ds.conn = nil
	}
}

// TestLibmodbusRTUOverTCP: the RTU master through a device server to a
// libmodbus RTU slave: reads, CRC errors, the late-answer discipline, the
// connection dropped and made again.
func TestLibmodbusRTUOverTCP(t *testing.T) {
	s, ds := startDeviceServer(t)
	m, err := NewMaster(Line{Transport: TransportRTUOverTCP, Address: ds.addr, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := t.Context()
	regs, err := m.ReadRegisters(ctx, 2, FuncReadHoldingRegisters, 40, 10, fastTx)
	if err != nil || regs[5] != 205 {
		t.Fatalf("read: got %v, %v", regs, err)
	}
	s.Mode("crc")
	if _, st, err := m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 2), Tx{Timeout: 200 * time.Millisecond}); !errors.Is(err, ErrCRC) || st.CRCErrors != 1 {
		t.Errorf("crc mode: got %v, %+v", err, st)
	}
	s.Mode("late 3 300")
	tx := Tx{Timeout: 150 * time.Millisecond, Retries: 1}
	late := 0
	for i := range 12 {
		unit, reg := byte(1+i%2), uint16(40+i%10)
		resp, st, err := m.Do(ctx, unit, mustRead(t, FuncReadHoldingRegisters, reg, 1), tx)
		late += st.Late
		if err == nil && Registers(resp)[0] != uint16(100*int(unit)+int(reg-40)) {
			t.Fatalf("unit %d holding %d: got %d: another request's answer", unit, reg, Registers(resp)[0])
		}
	}
	if late == 0 {
		t.Error("no late answer counted")
	}
	s.Mode("normal")
	ds.Drop()
	_, _, err = m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 1), fastTx)
	if !errors.Is(err, ErrPort) {
		// The drop may land between transactions: the next read notices.
		_, _, err = m.Do(ctx, 1, mustRead(t, FuncReadHoldingRegisters, 0, 1), fastTx)
	}
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("after the drop: got %v, want ErrDisconnected", err)
	}
	if regs, err := m.ReadRegisters(ctx, 1, FuncReadHoldingRegisters, 0, 1, fastTx); err != nil || regs[0] != 1234 {
		t.Fatalf("after reconnect: got %v, %v", regs, err)
	}
}
