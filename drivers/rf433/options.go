package rf433

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Options are the "rf433" input's options.
type Options struct {
	// Port is the decoder board's serial device: /dev/ttyUSB0, COM3.
	// Required unless format is rtl433.
	Port string `yaml:"port"`
	// Baud is the bit rate. Default: the format's (9600; sonoff 19200).
	Baud int `yaml:"baud"`
	// Format is ev1527 (FD + 3 code bytes + oscillator byte + DF, the
	// common boards), sonoff (AA A4 ... 55, the Sonoff RF Bridge), custom
	// (frame: below) or rtl433 (rtl_433 -F json). Default: ev1527.
	Format string `yaml:"format"`
	// Frame describes a custom format; with ev1527 or sonoff it may
	// override key_bits only.
	Frame *FrameOptions `yaml:"frame"`
	// RTL433 says where rtl_433's JSON lines come from (format rtl433).
	RTL433 *RTL433Options `yaml:"rtl433"`
	// RepeatWindow collapses the repeats of one code: the same code again
	// within this time of its last frame is the same trigger. Default: 1s.
	RepeatWindow edge.Duration `yaml:"repeat_window"`
	// MinRepeats is how many frames of a code must arrive within the
	// repeat window before it counts (a noisy site: 2). Default: 1.
	MinRepeats int `yaml:"min_repeats"`
	// Supervision is how long a contact may stay silent before it is
	// reported offline (most contacts send a heartbeat every 1-2 hours;
	// set it above that). 0 disables. Default: 0.
	Supervision edge.Duration `yaml:"supervision"`
	// ReconnectMin and ReconnectMax bound the backoff between reopening
	// a lost port or restarting rtl_433. Defaults: 1s and 30s.
	ReconnectMin edge.Duration `yaml:"reconnect_min"`
	ReconnectMax edge.Duration `yaml:"reconnect_max"`
	// LogInterval rate-limits the warnings about garbage and unknown
	// codes, per kind. Default: 1m.
	LogInterval edge.Duration `yaml:"log_interval"`
	// Devices are the wireless contacts.
	Devices []DeviceOptions `yaml:"devices"`
}

// FrameOptions is a decoder board's frame layout (format custom).
type FrameOptions struct {
	// Header and Footer are hex bytes: "FD", "AA A4". Required for custom.
	Header string `yaml:"header"`
	Footer string `yaml:"footer"`
	// Before is the count of bytes between header and code (timings);
	// After between code and footer (the oscillator byte). Default: 0.
	Before int `yaml:"before"`
	After  int `yaml:"after"`
	// CodeBytes is the code's length. Default: 3.
	CodeBytes int `yaml:"code_bytes"`
	// KeyBits is how many low bits of the code are key bits (EV1527: 4;
	// PT2262 boards that print the whole tri-state code: 0). Default: 4.
	KeyBits *int `yaml:"key_bits"`
}

// RTL433Options say how to get rtl_433's JSON output.
type RTL433Options struct {
	// Command runs rtl_433 as a child process, restarted with backoff when
	// it exits. Default: [rtl_433, -F, json].
	Command []string `yaml:"command"`
	// File reads the JSON lines from a named pipe or a growing file
	// instead (rtl_433 -F json:/run/rtl433.fifo); it replaces Command.
	File string `yaml:"file"`
	// MaxLine bounds a line; longer lines are dropped. Default: 4096.
	MaxLine int `yaml:"max_line"`
}

// DeviceOptions is one wireless contact and its codes.
type DeviceOptions struct {
	ID       string   `yaml:"id"`
	Location string   `yaml:"location"`
	Tags     []string `yaml:"tags"`
	// Type default: door_contact.
	Type string `yaml:"type"`
	// Point is the point of the open/close states. Default: door.
	Point string `yaml:"point"`
	// Codes maps whole codes (hex, "A1B2C3") to states: a sensor that
	// sends unrelated codes per state, or a PT2262 board.
	Codes map[string]string `yaml:"codes"`
	// Address is the code without its key bits (hex, "A1B2C"), or for
	// rtl433 the sender as model:id ("Kerui-Security:365845", with
	// :channel when the line has one). Keys then maps the key bits (hex,
	// or rtl_433's cmd) to states; without keys (rtl433) the states are
	// read from the line's state, tamper and battery_ok fields.
	Address string            `yaml:"address"`
	Keys    map[string]string `yaml:"keys"`
}

// The states a code maps to.
const (
	StateOpen       = "open"
	StateClose      = "close"
	StateTamper     = "tamper"
	StateLowBattery = "low_battery"
	StateBatteryOK  = "battery_ok"
	StateHeartbeat  = "heartbeat"
)

var stateRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// errorf names a field; edge.Options.Errorf fits.
type errorf func(field, format string, args ...any) error

func plainErrorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// Defaults fills the defaults.
func (o *Options) Defaults() {
	if o.Format == "" {
		o.Format = "ev1527"
	}
	if o.RepeatWindow == 0 {
		o.RepeatWindow = edge.Duration(time.Second)
	}
	if o.MinRepeats == 0 {
		o.MinRepeats = 1
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = edge.Duration(time.Second)
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = edge.Duration(30 * time.Second)
	}
	if o.LogInterval == 0 {
		o.LogInterval = edge.Duration(time.Minute)
	}
	if o.Format == "rtl433" {
		if o.RTL433 == nil {
			o.RTL433 = &RTL433Options{}
		}
		if len(o.RTL433.Command) == 0 && o.RTL433.File == "" {
			o.RTL433.Command = []string{"rtl_433", "-F", "json"}
		}
		if o.RTL433.MaxLine == 0 {
			o.RTL433.MaxLine = 4096
		}
	}
	for i := range o.Devices {
		d := &o.Devices[i]
		if d.Type == "" {
			d.Type = "door_contact"
		}
		if d.Point == "" {
			d.Point = "door"
		}
	}
}

// FrameFormat returns the frame layout of a serial format.
func (o *Options) FrameFormat() (Format, error) {
	var f Format
	switch o.Format {
	case "ev1527":
		f = FormatEV1527
	case "sonoff":
		f = FormatSonoff
	case "custom":
		if o.Frame == nil {
			return f, edge.Msgf("format custom needs frame: header, footer, code_bytes")
		}
		h, err := ParseHex(o.Frame.Header)
		if err != nil {
			return f, edge.Msgf("frame.header: %v", err)
		}
		ft, err := ParseHex(o.Frame.Footer)
		if err != nil {
			return f, edge.Msgf("frame.footer: %v", err)
		}
		f = Format{Header: h, Footer: ft, Before: o.Frame.Before, After: o.Frame.After,
			CodeBytes: o.Frame.CodeBytes, KeyBits: 4, Baud: 9600}
		if f.CodeBytes == 0 {
			f.CodeBytes = 3
		}
	default:
		return f, edge.Msgf("unknown format %q (want ev1527, sonoff, custom or rtl433)", o.Format)
	}
	if o.Frame != nil && o.Frame.KeyBits != nil {
		f.KeyBits = *o.Frame.KeyBits
	}
	if o.Baud != 0 {
		f.Baud = o.Baud
	}
	if err := f.validate(); err != nil {
		return f, edge.Msgf("frame: %v", err)
	}
	return f, nil
}

// Validate checks the options (defaults filled) and returns the first
// error, naming its field.
func (o *Options) Validate(ef errorf) error {
	if ef == nil {
		ef = plainErrorf
	}
	if err := o.validateSource(ef); err != nil {
		return err
	}
	if len(o.Devices) == 0 {
		return ef("devices", "at least one device is needed (run `edgegw learn 433` to get the entries)")
	}
	return o.validateDevices(ef)
}

// validateSource checks the receiver's options (all but the devices), as
// `edgegw learn 433` needs them.
func (o *Options) validateSource(ef errorf) error {
	if o.Format == "rtl433" {
		if o.Port != "" {
			return ef("port", "format rtl433 reads rtl_433's output, not a serial port: remove port")
		}
		if o.RTL433.MaxLine < 256 || o.RTL433.MaxLine > 1<<20 {
			return ef("rtl433.max_line", "%d out of range 256..1048576", o.RTL433.MaxLine)
		}
		if o.RTL433.File != "" && len(o.RTL433.Command) > 0 {
			return ef("rtl433", "give command or file, not both")
		}
	} else {
		if strings.TrimSpace(o.Port) == "" {
			return ef("port", "required: the decoder board's serial device, such as /dev/ttyUSB0 or COM3 (see `edgegw ports`)")
		}
		if o.RTL433 != nil {
			return ef("rtl433", "only for format rtl433")
		}
		if _, err := o.FrameFormat(); err != nil {
			return ef("format", "%v", err)
		}
	}
	if o.Baud < 0 || o.Baud > 4000000 {
		return ef("baud", "%d out of range", o.Baud)
	}
	if o.RepeatWindow.D() < 0 || o.RepeatWindow.D() > time.Minute {
		return ef("repeat_window", "%v out of range 0..1m", o.RepeatWindow)
	}
	if o.MinRepeats < 1 || o.MinRepeats > 20 {
		return ef("min_repeats", "%d out of range 1..20", o.MinRepeats)
	}
	if s := o.Supervision.D(); s < 0 || (s > 0 && s < time.Minute) {
		return ef("supervision", "%v: want 0 (off) or at least 1m", o.Supervision)
	}
	if o.ReconnectMin.D() <= 0 || o.ReconnectMax.D() < o.ReconnectMin.D() {
		return ef("reconnect_max", "want 0 < reconnect_min <= reconnect_max")
	}
	return nil
}

func (o *Options) validateDevices(ef errorf) error {
	seen := map[string]string{}
	ids := map[string]bool{}
	for i, d := range o.Devices {
		f := fmt.Sprintf("devices[%d]", i)
		if d.ID == "" {
			return ef(f+".id", "required")
		}
		if ids[d.ID] {
			return ef(f+".id", "device %q declared twice", d.ID)
		}
		ids[d.ID] = true
		if len(d.Codes) == 0 && d.Address == "" {
			return ef(f, "device %q has neither codes nor address", d.ID)
		}
		if d.Address == "" && len(d.Keys) > 0 {
			return ef(f+".keys", "keys need an address")
		}
		if o.Format == "rtl433" && len(d.Codes) > 0 {
			return ef(f+".codes", "format rtl433 maps senders by address (model:id) and keys")
		}
		claim := func(field, key string) error {
			if other, dup := seen[key]; dup {
				return ef(field, "code %s is already %s", key, other)
			}
			seen[key] = d.ID
			return nil
		}
		for _, c := range sortedKeys(d.Codes) {
			if err := checkState(d.Codes[c]); err != nil {
				return ef(f+".codes."+c, "%v", err)
			}
			b, err := ParseHex(c)
			if err != nil || len(b) == 0 || len(b) > 8 {
				return ef(f+".codes."+c, "want the code as hex, such as A1B2C3")
			}
			if err := claim(f+".codes."+c, "code "+normHex(c)); err != nil {
				return err
			}
		}
		if d.Address != "" {
			if o.Format != "rtl433" {
				if _, err := strconv.ParseUint(normHex(d.Address), 16, 64); err != nil {
					return ef(f+".address", "%q: want the address as hex, such as A1B2C", d.Address)
				}
			}
			for _, k := range sortedKeys(d.Keys) {
				if err := checkState(d.Keys[k]); err != nil {
					return ef(f+".keys."+k, "%v", err)
				}
				if _, err := strconv.ParseUint(normHex(k), 16, 16); err != nil {
					return ef(f+".keys."+k, "want the key bits as hex, such as 3 or E")
				}
				if err := claim(f+".keys."+k, "address "+d.Address+" key "+normHex(k)); err != nil {
					return err
				}
			}
			if len(d.Keys) == 0 {
				if err := claim(f+".address", "address "+d.Address); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkState(s string) error {
	if !stateRe.MatchString(s) {
		return edge.Msgf("state %q: want open, close, tamper, low_battery, battery_ok, heartbeat or another lowercase word", s)
	}
	return nil
}

// normHex upper-cases hex and drops a 0x prefix and leading zeros of a
// key ("0x0e" -> "E" as a key, "0A1B2C" stays as written for codes).
func normHex(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0X")
	return strings.ReplaceAll(s, " ", "")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
