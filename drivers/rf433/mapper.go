package rf433

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Signal is one received transmission, from a decoder board's frame or an
// rtl_433 line.
type Signal struct {
	// ID identifies the transmission for collapsing repeats and for
	// learning: the code as hex ("A1B2C3") or rtl_433's sender and
	// command ("Kerui-Security:365845#E").
	ID string
	// Code is the frame's code (decoder boards).
	Code Code
	// Sender is rtl_433's model:id[:channel]; "" for a frame.
	Sender string
	// Cmd is rtl_433's cmd as hex; "" when the line has none.
	Cmd string
	// States are the states the rtl_433 line reports itself (state,
	// tamper, battery_ok, heartbeat fields).
	States []string
}

// FrameSignal makes the signal of a decoded frame.
func FrameSignal(c Code) Signal { return Signal{ID: c.Hex(), Code: c} }

// Address is the sender: the code's address or rtl_433's model:id.
func (s Signal) Address() string {
	if s.Sender != "" {
		return s.Sender
	}
	return s.Code.Address()
}

// Key is the key bits or rtl_433's cmd.
func (s Signal) Key() string {
	if s.Sender != "" {
		return s.Cmd
	}
	return s.Code.Key()
}

// mapper finds the device and states of a signal.
type mapper struct {
	codes map[string]target // normalised whole code -> device, state
	keys  map[string]target // address + "#" + key -> device, state
	// senders: address -> device index, every device with an address
	senders map[string]int
}

type target struct {
	dev   int
	state string
}

func newMapper(o *Options) *mapper {
	m := &mapper{codes: map[string]target{}, keys: map[string]target{}, senders: map[string]int{}}
	for i, d := range o.Devices {
		for c, st := range d.Codes {
			b, _ := ParseHex(c)
			m.codes[strings.ToUpper(hex.EncodeToString(b))] = target{i, st}
		}
		if d.Address == "" {
			continue
		}
		addr := normAddr(d.Address, o.Format == "rtl433")
		m.senders[addr] = i
		for k, st := range d.Keys {
			m.keys[addr+"#"+normKey(k)] = target{i, st}
		}
	}
	return m
}

// normAddr makes hex addresses comparable ("0a1b2c" and "A1B2C" are the
// same); rtl_433 senders are kept as written.
func normAddr(a string, rtl bool) string {
	if rtl {
		return strings.TrimSpace(a)
	}
	v, err := strconv.ParseUint(normHex(a), 16, 64)
	if err != nil {
		return a
	}
	return fmt.Sprintf("%X", v)
}

func normKey(k string) string {
	v, err := strconv.ParseUint(normHex(k), 16, 16)
	if err != nil {
		return k
	}
	return fmt.Sprintf("%X", v)
}

// lookup returns the device index and its states for s; dev is -1 for a
// signal no device claims.
func (m *mapper) lookup(s Signal) (dev int, states []string) {
	if s.Sender == "" {
		if t, ok := m.codes[s.ID]; ok {
			return t.dev, []string{t.state}
		}
		if s.Code.KeyBits > 0 {
			if t, ok := m.keys[normAddr(s.Code.Address(), false)+"#"+normKey(s.Code.Key())]; ok {
				return t.dev, []string{t.state}
			}
		}
		// A known sender with a key no state is set for: it is alive.
		if i, ok := m.senders[normAddr(s.Code.Address(), false)]; ok {
			return i, []string{StateHeartbeat}
		}
		return -1, nil
	}
	if s.Cmd != "" {
		if t, ok := m.keys[s.Sender+"#"+normKey(s.Cmd)]; ok {
			return t.dev, []string{t.state}
		}
	}
	// No key matched (or none configured): the line's own fields.
	if i, ok := m.senders[s.Sender]; ok {
		if len(s.States) == 0 {
			return i, []string{StateHeartbeat}
		}
		return i, s.States
	}
	return -1, nil
}
