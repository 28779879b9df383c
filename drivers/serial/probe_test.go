package serial

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestProbeOverPty runs the probe for a second against a device sending
// camera lines and checks it shows raw bytes, frames and regexp groups.
func TestProbeOverPty(t *testing.T) {
	p := ptytest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out := newNotifyBuf()
	done := make(chan error, 1)
	go func() {
		done <- Probe(ctx, ProbeOptions{Port: Port{Port: p.Path(), Baud: 9600},
			Regexp: `^ALARM,(?P<cam>\w+),(?P<state>\w+)`, ReadTimeout: 20 * time.Millisecond}, out)
	}()
	out.waitFor(t, "open, waiting for data", 3*time.Second)
	p.Write([]byte("ALARM,CAM3,FALL,2026-11-29T10:00:00\r\n\x01\x02junk\n"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"41 4c 41 52 4d 2c", // "ALARM," in hex
		"|ALARM,CAM3,FALL,",
		`frame 35 bytes: "ALARM,CAM3,FALL,2026-11-29T10:00:00"`,
		`regexp: cam="CAM3" state="FALL"`,
		`frame 6 bytes: "\x01\x02junk"`,
		"regexp: no match",
		"frames 2, garbage 0, overlong 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("probe output lacks %q:\n%s", want, got)
		}
	}
}

func TestProbeBadOptions(t *testing.T) {
	for _, po := range []ProbeOptions{{}, {Port: Port{Port: "/dev/x"}, Regexp: "("}, {Port: Port{Port: "/dev/x"}, Framing: Framing{Mode: "x"}}} {
		if err := Probe(context.Background(), po, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v: want an error", po)
		}
	}
}

func TestWritePorts(t *testing.T) {
	var b bytes.Buffer
	WritePorts(&b, nil)
	if !strings.Contains(b.String(), "No serial ports found") {
		t.Errorf("empty list: got %q", b.String())
	}
	b.Reset()
	WritePorts(&b, []PortInfo{{Name: "/dev/ttyUSB0", USB: true, VID: "1A86", PID: "7523", SerialNumber: "A1", Product: "USB Serial"}, {Name: "/dev/ttyS0"}})
	for _, want := range []string{"/dev/ttyUSB0", "1a86:7523", "A1", "USB Serial", "/dev/ttyS0", "(not USB)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestListPorts runs the real enumerator; this box may have no ports, but
// it must not fail.
func TestListPorts(t *testing.T) {
	ports, err := ListPorts()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p.Name == "" {
			t.Errorf("port without a name: %+v", p)
		}
	}
}

// TestProbeRefusedWhileDriverRuns: a probe on the port a running driver
// reads is refused at once, naming the holder, and the driver sees nothing
// of it: no error, no offline, the next frame read as usual.
func TestProbeRefusedWhileDriverRuns(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:    Port{Port: p.Path()},
		Devices: []DeviceConf{{ID: "cam1"}},
		Decode: Decode{Regexp: &RegexpDecode{Pattern: `^ALARM,(?P<s>\w+)`,
			Points: []PointConf{{Group: "s", Point: "alarm", Kind: "state"}}}},
	}
	sink := newCollector()
	d, stop := startDriver(t, o, sink)
	i := sink.waitFor(t, 0, "online", 3*time.Second, isStatus("cam1", true))
	p.Write([]byte("ALARM,FALL\n"))
	i = sink.waitFor(t, i, "FALL", 3*time.Second, func(e edge.Event) bool { return e.Text == "FALL" })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var out bytes.Buffer
	err := Probe(ctx, ProbeOptions{Port: Port{Port: p.Path()}}, &out)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refused after %v, want within 5s", took)
	}
	// (In one process the refusal says so; from another process it names
	// the holder: drivers/serialport and cmd/edgegw test that.)
	if !errors.Is(err, edge.ErrPortInUse) || !strings.Contains(err.Error(), "port "+p.Path()+" is already open") {
		t.Fatalf("got %v, want the port in use", err)
	}

	p.Write([]byte("ALARM,SMOKE\n"))
	sink.waitFor(t, i, "SMOKE after the refused probe", 3*time.Second, func(e edge.Event) bool { return e.Text == "SMOKE" })
	stop()
	for _, e := range sink.events() {
		if e.Kind == edge.KindStatus && !e.IsOnline() {
			t.Errorf("the driver went offline: %+v", e)
		}
	}
	if s := statsOf(d, "cam1"); s.Errors != 0 || s.Frames != 2 || s.Reconnects != 0 {
		t.Errorf("driver stats %+v, want 2 frames and no error", s)
	}
}
