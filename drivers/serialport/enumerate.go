package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgegw/edgegw/edge/i18n"
	bugserial "go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// PortInfo describes one serial port of this machine.
type PortInfo struct {
	Name string `json:"name"`
	// ByID are the stable names of the port under /dev/serial/by-id
	// (Linux): they name the adapter, not the order it was found in, so
	// they survive a reboot and a replug.
	ByID         []string `json:"by_id,omitempty"`
	USB          bool     `json:"usb"`
	VID          string   `json:"vid,omitempty"`
	PID          string   `json:"pid,omitempty"`
	SerialNumber string   `json:"serial_number,omitempty"`
	Product      string   `json:"product,omitempty"`
	// InUseBy names the process holding the port's lock file, "edgegw
	// (pid 123)"; empty when none does (or this OS keeps no lock files).
	InUseBy string `json:"in_use_by,omitempty"`
}

// Enumerator lists the serial ports with their USB ids.
type Enumerator interface {
	Ports() ([]PortInfo, error)
}

// ByIDDir is where udev puts the stable names of serial adapters.
const ByIDDir = "/dev/serial/by-id"

// System is the machine's enumerator: go.bug.st/serial's (without active
// USB probing), with the stable names of ByIDDir.
type System struct {
	// ByIDDir overrides ByIDDir (tests).
	ByIDDir string
}

// Ports lists the ports.
func (s System) Ports() ([]PortInfo, error) {
	var out []PortInfo
	list, err := enumerator.GetDetailedPortsList()
	if err != nil {
		var pe *bugserial.PortError
		if !errors.As(err, &pe) || pe.Code() != bugserial.FunctionNotImplemented {
			return nil, fmt.Errorf("list serial ports: %w", err)
		}
		// No USB details on this OS: names only.
		names, err := bugserial.GetPortsList()
		if err != nil {
			return nil, fmt.Errorf("list serial ports: %w", err)
		}
		for _, n := range names {
			out = append(out, PortInfo{Name: n})
		}
	} else {
		for _, p := range list {
			out = append(out, PortInfo{Name: p.Name, USB: p.IsUSB, VID: strings.ToLower(p.VID), PID: strings.ToLower(p.PID),
				SerialNumber: p.SerialNumber, Product: p.Product})
		}
	}
	dir := s.ByIDDir
	if dir == "" {
		dir = ByIDDir
	}
	AddByID(out, ByIDLinks(dir))
	return out, nil
}

// ByIDLinks reads the symlinks of dir (ByIDDir) and returns, for each
// device they resolve to, the links' full paths, sorted. A missing dir
// (no adapter plugged in, not Linux) gives none.
func ByIDLinks(dir string) map[string][]string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string][]string{}
	for _, e := range ents {
		link := filepath.Join(dir, e.Name())
		target, err := filepath.EvalSymlinks(link)
		if err != nil || target == link {
			continue // dangling, or not a link
		}
		out[target] = append(out[target], link)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// AddByID fills each port's ByID from links (ByIDLinks).
func AddByID(ports []PortInfo, links map[string][]string) {
	for i := range ports {
		name := ports[i].Name
		if t, err := filepath.EvalSymlinks(name); err == nil {
			name = t
		}
		ports[i].ByID = links[name]
	}
}

// List lists this machine's ports with their stable names and who holds
// each (its lock file; the port is not opened).
func List() ([]PortInfo, error) {
	ports, err := System{}.Ports()
	if err != nil {
		return nil, err
	}
	var o Opener
	for i := range ports {
		if pid, name, ok := o.Holder(ports[i].Name); ok {
			if name == "" {
				name = "process"
			}
			ports[i].InUseBy = fmt.Sprintf("%s (pid %d)", name, pid)
		}
	}
	return ports, nil
}

// WritePorts prints ports as a table an installer can read, each port's
// stable by-id names under it, or says clearly that there are none.
func WritePorts(w io.Writer, ports []PortInfo) { WritePortsIn(w, ports, i18n.EN) }

// WritePortsIn is WritePorts with its sentences in lang (the table's
// column names stay as they are).
func WritePortsIn(w io.Writer, ports []PortInfo, lang i18n.Lang) {
	if len(ports) == 0 {
		i18n.Fprintln(w, lang, "No serial ports found on this machine.")
		i18n.Fprintln(w, lang, "Plug in the USB-serial adapter (or check the RS-232/RS-485 card), then run `edgegw ports` again.")
		return
	}
	fmt.Fprintf(w, "%-22s %-10s %-16s %-24s %s\n", "PORT", "VID:PID", "SERIAL", "PRODUCT", "IN USE BY")
	for _, p := range ports {
		id, sn, prod := "-", p.SerialNumber, p.Product
		if p.USB {
			id = strings.ToLower(p.VID + ":" + p.PID)
		}
		if sn == "" {
			sn = "-"
		}
		if prod == "" {
			prod = "-"
			if !p.USB {
				prod = "(not USB)" // a value of the table: English, like its column names
			}
		}
		by := p.InUseBy
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(w, "%-22s %-10s %-16s %-24s %s\n", p.Name, id, sn, prod, by)
		for _, l := range p.ByID {
			fmt.Fprintf(w, "  by-id: %s\n", l)
		}
		if p.USB {
			fmt.Fprintf(w, "  usb:   %s\n", USBSelector{VID: p.VID, PID: p.PID, Serial: p.SerialNumber})
		}
	}
}

// USBSelector picks a USB-serial adapter by its USB ids: vendor and
// product id (hex, as lsusb prints them) and, when set, the serial number.
type USBSelector struct {
	VID, PID, Serial string
}

// String is the selector as a port name, usb:VID:PID[:SERIAL].
func (s USBSelector) String() string {
	out := "usb:" + strings.ToLower(s.VID) + ":" + strings.ToLower(s.PID)
	if s.Serial != "" {
		out += ":" + s.Serial
	}
	return out
}

// ParseUSB parses a port name "usb:VID:PID" or "usb:VID:PID:SERIAL" (the
// serial number may itself hold colons). ok is false for any other name.
func ParseUSB(port string) (s USBSelector, ok bool, err error) {
	rest, found := strings.CutPrefix(port, "usb:")
	if !found {
		return USBSelector{}, false, nil
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) < 2 || !isHex4(parts[0]) || !isHex4(parts[1]) {
		return USBSelector{}, true, fmt.Errorf("port %q: want usb:VID:PID or usb:VID:PID:SERIAL with 4-digit hex ids, such as usb:1a86:7523", port)
	}
	s = USBSelector{VID: strings.ToLower(parts[0]), PID: strings.ToLower(parts[1])}
	if len(parts) == 3 {
		if s.Serial = parts[2]; s.Serial == "" {
			return USBSelector{}, true, fmt.Errorf("port %q: empty serial number", port)
		}
	}
	return s, true, nil
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ErrNoMatch and ErrAmbiguous are the two ways a USB selector fails.
var (
	ErrNoMatch   = errors.New("no USB serial adapter matches")
	ErrAmbiguous = errors.New("several USB serial adapters match")
)

// Resolve returns the port of the one adapter s matches among e's ports.
// None, or several, is an error (ErrNoMatch, ErrAmbiguous) that lists what
// is plugged in, so the installer can fix the config.
func (s USBSelector) Resolve(e Enumerator) (string, error) {
	ports, err := e.Ports()
	if err != nil {
		return "", fmt.Errorf("%s: %w", s, err)
	}
	var match, usb []string
	for _, p := range ports {
		if !p.USB {
			continue
		}
		usb = append(usb, fmt.Sprintf("%s %s:%s serial %q", p.Name, strings.ToLower(p.VID), strings.ToLower(p.PID), p.SerialNumber))
		if strings.EqualFold(p.VID, s.VID) && strings.EqualFold(p.PID, s.PID) && (s.Serial == "" || p.SerialNumber == s.Serial) {
			match = append(match, p.Name)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		seen := "none is plugged in"
		if len(usb) > 0 {
			seen = "plugged in: " + strings.Join(usb, "; ")
		}
		return "", fmt.Errorf("%s: %w (%s)", s, ErrNoMatch, seen)
	}
	hint := "add the serial number (usb:VID:PID:SERIAL, see edgegw ports)"
	if s.Serial != "" {
		hint = "two adapters share this serial number: name the port by its /dev/serial/by-path link instead"
	}
	return "", fmt.Errorf("%s: %w: %s; %s", s, ErrAmbiguous, strings.Join(match, ", "), hint)
}

// ResolvePort turns a port name into a device path: usb:VID:PID[:SERIAL]
// is looked up among the ports plugged in now (so a replugged adapter is
// found on its new ttyUSBn); any other name is returned as it is.
func ResolvePort(port string) (string, error) {
	return ResolvePortWith(System{}, port)
}

// ResolvePortWith is ResolvePort on an enumerator.
func ResolvePortWith(e Enumerator, port string) (string, error) {
	s, ok, err := ParseUSB(port)
	if err != nil || !ok {
		return port, err
	}
	return s.Resolve(e)
}
