package rf433

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseRTL433 reads one line of `rtl_433 -F json`:
//
//	{"time" : "2026-03-01 10:00:00", "model" : "Kerui-Security", "id" : 365845, "cmd" : 14, "state" : "open"}
//
// The sender is model:id (and :channel when the line has one); cmd, when
// present, is the key; the states come from the state field (open, close,
// tamper, battery), the tamper, battery_ok, heartbeat fields and the
// reed_open / contact_open fields of the security sensors.
func ParseRTL433(line []byte) (Signal, error) {
	var s Signal
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return s, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return s, fmt.Errorf("bad JSON: %v", err)
	}
	model, _ := m["model"].(string)
	id := scalar(m["id"])
	if model == "" || id == "" {
		return s, errors.New("no model and id")
	}
	if len(model) > 64 || len(id) > 32 || strings.ContainsAny(model+id, ":# \t") {
		return s, fmt.Errorf("model %.64q or id %.32q is not a plain name", model, id)
	}
	s.Sender = model + ":" + id
	if ch := scalar(m["channel"]); ch != "" && len(ch) <= 16 && !strings.ContainsAny(ch, ":# \t") {
		s.Sender += ":" + ch
	}
	if c, ok := m["cmd"]; ok {
		if v, err := parseUint(scalar(c)); err == nil && v <= 0xFFFF {
			s.Cmd = fmt.Sprintf("%X", v)
		}
	}
	add := func(st string) {
		for _, x := range s.States {
			if x == st {
				return
			}
		}
		s.States = append(s.States, st)
	}
	if st, ok := m["state"].(string); ok {
		switch st = strings.ToLower(strings.TrimSpace(st)); st {
		case "open", "opened":
			add(StateOpen)
		case "close", "closed":
			add(StateClose)
		case "tamper":
			add(StateTamper)
		case "battery", "low_battery", "battery_low":
			add(StateLowBattery)
		default:
			if stateRe.MatchString(st) {
				add(st)
			}
		}
	}
	for _, f := range []string{"reed_open", "contact_open", "opened"} {
		if v, ok := flag(m[f]); ok {
			if v {
				add(StateOpen)
			} else {
				add(StateClose)
			}
			break
		}
	}
	if v, ok := flag(m["tamper"]); ok && v {
		add(StateTamper)
	}
	if v, ok := flag(m["battery_ok"]); ok {
		if v {
			add(StateBatteryOK)
		} else {
			add(StateLowBattery)
		}
	}
	if v, ok := flag(m["heartbeat"]); ok && v && len(s.States) == 0 {
		add(StateHeartbeat)
	}
	s.ID = s.Sender + "#" + s.Cmd + "#" + strings.Join(s.States, ",")
	return s, nil
}

// scalar renders a JSON string or number as text; other values give "".
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// flag reads a 0/1, true/false field.
func flag(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return false, false
		}
		return f != 0, true
	case string:
		b, err := strconv.ParseBool(x)
		return b, err == nil
	}
	return false, false
}

func parseUint(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

// Lines cuts a byte stream into lines of at most Max bytes; a longer line
// is dropped whole (counted in Overlong). The zero value needs Max set.
type Lines struct {
	Max      int
	Overlong uint64
	buf      []byte
	skipping bool
}

// Feed adds bytes and calls emit for each whole line (without its end).
func (l *Lines) Feed(b []byte, emit func([]byte)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if !l.skipping {
			if len(l.buf)+len(part) > l.Max {
				l.skipping = true
				l.Overlong++
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, part...)
			}
		}
		if i < 0 {
			return
		}
		if !l.skipping {
			emit(bytes.TrimRight(l.buf, "\r"))
		}
		l.buf, l.skipping = l.buf[:0], false
		b = b[i+1:]
	}
}
