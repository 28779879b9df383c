package serialport

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakePorts is an enumeration as the OS would give it.
type fakePorts []PortInfo

func (f fakePorts) Ports() ([]PortInfo, error) { return f, nil }

type failing struct{}

func (failing) Ports() ([]PortInfo, error) { return nil, errors.New("enumerator broke") }

func TestResolveUSB(t *testing.T) {
	ch340 := func(name, sn string) PortInfo {
		return PortInfo{Name: name, USB: true, VID: "1a86", PID: "7523", SerialNumber: sn}
	}
	ftdi := PortInfo{Name: "/dev/ttyUSB2", USB: true, VID: "0403", PID: "6001", SerialNumber: "A10K5BQX"}
	for _, tc := range []struct {
		name  string
		ports fakePorts
		port  string
		want  string
		err   error
	}{
		{"plain path untouched", nil, "/dev/ttyUSB0", "/dev/ttyUSB0", nil},
		{"one match by VID:PID", fakePorts{ch340("/dev/ttyUSB0", ""), ftdi}, "usb:1a86:7523", "/dev/ttyUSB0", nil},
		{"replugged on a new ttyUSBn", fakePorts{ftdi, ch340("/dev/ttyUSB3", "")}, "usb:1a86:7523", "/dev/ttyUSB3", nil},
		{"ids in upper case", fakePorts{ftdi}, "usb:0403:6001:A10K5BQX", "/dev/ttyUSB2", nil},
		{"enumerator in upper case", fakePorts{{Name: "COM4", USB: true, VID: "0403", PID: "6001", SerialNumber: "X"}}, "usb:0403:6001", "COM4", nil},
		{"by serial among twins", fakePorts{ch340("/dev/ttyUSB0", "1111"), ch340("/dev/ttyUSB1", "2222")}, "usb:1a86:7523:2222", "/dev/ttyUSB1", nil},
		{"serial with colons", fakePorts{ch340("/dev/ttyUSB0", "AB:CD")}, "usb:1a86:7523:AB:CD", "/dev/ttyUSB0", nil},
		{"twins without serial", fakePorts{ch340("/dev/ttyUSB0", ""), ch340("/dev/ttyUSB1", "")}, "usb:1a86:7523", "", ErrAmbiguous},
		{"twins with one serial", fakePorts{ch340("/dev/ttyUSB0", "S"), ch340("/dev/ttyUSB1", "S")}, "usb:1a86:7523:S", "", ErrAmbiguous},
		{"unplugged", fakePorts{ftdi}, "usb:1a86:7523", "", ErrNoMatch},
		{"nothing at all", fakePorts{{Name: "/dev/ttyS0"}}, "usb:1a86:7523", "", ErrNoMatch},
		{"wrong serial", fakePorts{ch340("/dev/ttyUSB0", "1111")}, "usb:1a86:7523:9999", "", ErrNoMatch},
	} {
		got, err := ResolvePortWith(tc.ports, tc.port)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "usb:1a86:7523") {
			t.Errorf("%s: error %q does not name the selector", tc.name, err)
		}
	}
	_, err := ResolvePortWith(fakePorts{ftdi}, "usb:1a86:7523")
	if err == nil || !strings.Contains(err.Error(), "/dev/ttyUSB2 0403:6001") {
		t.Errorf("no match: %v, want it to list what is plugged in", err)
	}
	if _, err := ResolvePortWith(failing{}, "usb:1a86:7523"); err == nil || !strings.Contains(err.Error(), "broke") {
		t.Errorf("enumerator error: got %v", err)
	}
	for _, bad := range []string{"usb:", "usb:1a86", "usb:1a8:7523", "usb:zzzz:7523", "usb:1a86:7523:"} {
		if _, _, err := ParseUSB(bad); err == nil {
			t.Errorf("ParseUSB(%q): no error", bad)
		}
	}
}

// TestByIDLinks reads a directory of symlinks as udev makes them.
func TestByIDLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dev := t.TempDir()
	byid := filepath.Join(t.TempDir(), "by-id")
	os.Mkdir(byid, 0o755)
	for _, n := range []string{"ttyUSB0", "ttyUSB1", "ttyS0"} {
		os.WriteFile(filepath.Join(dev, n), nil, 0o644)
	}
	links := map[string]string{
		"usb-1a86_USB_Serial-if00-port0":                "../" + filepath.Base(dev) + "/ttyUSB0", // relative, as udev makes them
		"usb-FTDI_FT232R_USB_UART_A10K5BQX-if00-port0":  filepath.Join(dev, "ttyUSB1"),
		"usb-FTDI_FT232R_USB_UART_A10K5BQX-if00-port0b": filepath.Join(dev, "ttyUSB1"),
		"dangling": filepath.Join(dev, "ttyUSB9"),
	}
	// The relative link must resolve from by-id's directory.
	rel := filepath.Join(filepath.Dir(byid), filepath.Base(dev))
	if err := os.Symlink(dev, rel); err != nil {
		t.Fatal(err)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(byid, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(byid, "not-a-link"), nil, 0o644)
	ports := []PortInfo{{Name: filepath.Join(dev, "ttyUSB0"), USB: true}, {Name: filepath.Join(dev, "ttyUSB1"), USB: true}, {Name: filepath.Join(dev, "ttyS0")}}
	AddByID(ports, ByIDLinks(byid))
	want := [][]string{
		{filepath.Join(byid, "usb-1a86_USB_Serial-if00-port0")},
		{filepath.Join(byid, "usb-FTDI_FT232R_USB_UART_A10K5BQX-if00-port0"), filepath.Join(byid, "usb-FTDI_FT232R_USB_UART_A10K5BQX-if00-port0b")},
		nil,
	}
	for i, p := range ports {
		if !slices.Equal(p.ByID, want[i]) {
			t.Errorf("%s: by-id %v, want %v", p.Name, p.ByID, want[i])
		}
	}
	if got := ByIDLinks(filepath.Join(byid, "missing")); len(got) != 0 {
		t.Errorf("missing dir: got %v", got)
	}
	var out bytes.Buffer
	ports[0].VID, ports[0].PID = "1a86", "7523"
	WritePorts(&out, ports)
	for _, s := range []string{"by-id: " + want[0][0], "usb:   usb:1a86:7523", "(not USB)"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}
