package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
	bugserial "go.bug.st/serial"
)

// ProbeOptions is what `edgegw probe serial` shows a device with.
type ProbeOptions struct {
	Port    Port
	Framing Framing
	// Regexp, when set, is matched against each frame and its named groups
	// are printed.
	Regexp string
	// ReadTimeout bounds each read. Default: 100ms.
	ReadTimeout time.Duration
	// Clock times the output and the retries. Default: edge.SystemClock.
	Clock edge.Clock
	// Lang is the language of the lines printed. Default: English.
	Lang i18n.Lang
}

// Probe opens the port and prints, until ctx ends, every chunk of raw bytes
// (hex and printable) and every frame the framing cuts, with the regexp's
// groups when one is given. A port that vanishes is reopened every second.
// It returns nil when ctx ends, an error for bad options, and at once an
// error wrapping edge.ErrPortInUse when another process holds the port
// (the running gateway, often): the probe never shares a port.
func Probe(ctx context.Context, po ProbeOptions, w io.Writer) error {
	po.Port.defaults()
	po.Framing.defaults()
	if err := po.Port.validate(plainErrorf); err != nil {
		return err
	}
	if err := po.Framing.validate(plainErrorf); err != nil {
		return err
	}
	var re *regexp.Regexp
	if po.Regexp != "" {
		var err error
		if re, err = regexp.Compile(po.Regexp); err != nil {
			return i18n.Errorf(po.Lang, "--regexp: %v", err)
		}
	}
	mode, err := po.Port.Mode()
	if err != nil {
		return err
	}
	if po.ReadTimeout <= 0 {
		po.ReadTimeout = 100 * time.Millisecond
	}
	if po.Clock == nil {
		po.Clock = edge.SystemClock{}
	}
	i18n.Fprintf(w, po.Lang, "probing %s at %d baud, %d%s%v, framing %s (Ctrl-C to stop)\n",
		po.Port.Port, mode.BaudRate, mode.DataBits, strings.ToUpper(po.Port.Parity[:1]), po.Port.StopBits, po.Framing.Mode)
	fr := NewFramer(po.Framing)
	for ctx.Err() == nil {
		err := probeSession(ctx, po, mode, fr, re, w)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, edge.ErrPortInUse) {
			return err
		}
		i18n.Fprintf(w, po.Lang, "port %s: %v; retrying in 1s\n", po.Port.Port, err)
		edge.Sleep(ctx, po.Clock, time.Second)
	}
	i18n.Fprintf(w, po.Lang, "frames %d, garbage %d, overlong %d\n", fr.Frames, fr.Garbage, fr.Overlong)
	return nil
}

func probeSession(ctx context.Context, po ProbeOptions, mode *bugserial.Mode, fr *Framer, re *regexp.Regexp, w io.Writer) error {
	port, err := (&serialport.Opener{Clock: po.Clock}).Open(po.Port.Port, mode)
	if err != nil {
		return err
	}
	defer port.Close()
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	if err := port.SetReadTimeout(po.ReadTimeout); err != nil {
		return err
	}
	i18n.Fprintf(w, po.Lang, "port %s open, waiting for data\n", po.Port.Port)
	fr.Reset()
	buf := make([]byte, 1024)
	for {
		n, err := port.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n == 0 {
			continue
		}
		ts := po.Clock.Now().Format("15:04:05.000")
		HexDump(w, ts+" raw ", buf[:n])
		g, o := fr.Garbage, fr.Overlong
		fr.Feed(buf[:n], func(frame []byte) {
			i18n.Fprintf(w, po.Lang, "%s frame %d bytes: %s\n", ts, len(frame), printable(frame, 256))
			if re == nil {
				return
			}
			m := re.FindSubmatch(frame)
			if m == nil {
				i18n.Fprintf(w, po.Lang, "%s   regexp: no match\n", ts)
				return
			}
			var parts []string
			for i, name := range re.SubexpNames() {
				if name != "" {
					parts = append(parts, fmt.Sprintf("%s=%q", name, m[i]))
				}
			}
			fmt.Fprintf(w, "%s   regexp: %s\n", ts, strings.Join(parts, " "))
		})
		if fr.Garbage != g || fr.Overlong != o {
			i18n.Fprintf(w, po.Lang, "%s dropped: garbage +%d, overlong +%d\n", ts, fr.Garbage-g, fr.Overlong-o)
		}
	}
}

// HexDump writes b as lines of 16 bytes: hex, then the printable bytes.
func HexDump(w io.Writer, prefix string, b []byte) {
	for len(b) > 0 {
		n := min(16, len(b))
		var hx, tx strings.Builder
		for i := 0; i < 16; i++ {
			if i < n {
				fmt.Fprintf(&hx, "%02x ", b[i])
				c := b[i]
				if c < 0x20 || c > 0x7e {
					c = '.'
				}
				tx.WriteByte(c)
			} else {
				hx.WriteString("   ")
			}
		}
		fmt.Fprintf(w, "%s%s |%s|\n", prefix, hx.String(), tx.String())
		b = b[n:]
	}
}

// PortInfo describes one serial port of this machine (serialport's).
type PortInfo = serialport.PortInfo

// ListPorts lists the serial ports with their USB ids and stable names
// (serialport.List).
func ListPorts() ([]PortInfo, error) { return serialport.List() }

// WritePorts prints ports as a table (serialport.WritePorts).
func WritePorts(w io.Writer, ports []PortInfo) { serialport.WritePorts(w, ports) }
