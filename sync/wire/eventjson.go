package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// eventJSON is Event without its JSON methods.
type eventJSON Event

// TimeFitsJSON reports whether t can be written as an RFC 3339 string: its
// year is 0 to 9999. (time.Time's MarshalJSON fails outside.)
func TimeFitsJSON(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

// MarshalJSON writes the event with the field names of the gateway's event
// record; a value JSON numbers cannot carry (NaN, ±Inf) is written as the
// string "NaN", "+Inf" or "-Inf", and a time RFC 3339 cannot carry (a year
// past 9999, from a broken clock) as "ts_ms", milliseconds since 1970, with
// "ts" the zero time. It never fails.
func (e Event) MarshalJSON() ([]byte, error) {
	special := math.IsNaN(e.Value) || math.IsInf(e.Value, 0)
	badTime := !TimeFitsJSON(e.Time)
	if !special && !badTime {
		return json.Marshal(eventJSON(e))
	}
	aux := struct {
		eventJSON
		V  any    `json:"v,omitempty"`
		TS *int64 `json:"ts_ms,omitempty"`
	}{eventJSON: eventJSON(e)}
	switch {
	case special:
		aux.V = strconv.FormatFloat(e.Value, 'g', -1, 64)
	case e.Value != 0:
		aux.V = e.Value
	}
	if badTime {
		ms := e.Time.UnixMilli()
		aux.TS, aux.eventJSON.Time = &ms, time.Time{}
	}
	return json.Marshal(aux)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	aux := struct {
		*eventJSON
		V  json.RawMessage `json:"v"`
		TS *int64          `json:"ts_ms"`
	}{eventJSON: (*eventJSON)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.TS != nil {
		e.Time = time.UnixMilli(*aux.TS).UTC()
	}
	e.Value = 0
	switch v := string(aux.V); {
	case v == "" || v == "null":
	case v[0] == '"':
		switch v {
		case `"NaN"`:
			e.Value = math.NaN()
		case `"+Inf"`:
			e.Value = math.Inf(1)
		case `"-Inf"`:
			e.Value = math.Inf(-1)
		default:
			return fmt.Errorf("event value %s: want a number, \"NaN\", \"+Inf\" or \"-Inf\"", v)
		}
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("event value %s: %w", v, err)
		}
		e.Value = f
	}
	return nil
}
