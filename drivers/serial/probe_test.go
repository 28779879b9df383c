package serial

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/ptytest"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProbeOverPty runs the probe for a second against a device sending
// camera lines and checks it shows raw bytes, frames and regexp groups.
func TestProbeOverPty(t *testing.T) {
	p := ptytest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var out lockedBuf
	done := make(chan error, 1)
	go func() {
		done <- Probe(ctx, ProbeOptions{Port: Port{Port: p.Path(), Baud: 9600},
			Regexp: `^ALARM,(?P<cam>\w+),(?P<state>\w+)`, ReadTimeout: 20 * time.Millisecond}, &out)
	}()
	for i := 0; !strings.Contains(out.String(), "probing"); i++ {
		if i > 200 {
			t.Fatal("probe did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the port is open once the header is out; let it settle
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
