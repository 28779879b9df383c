package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// eventJSON is Event without its JSON methods.
type eventJSON Event

// MarshalJSON writes the event with the field names of the gateway's event
// record; a value JSON numbers cannot carry (NaN, ±Inf) is written as the
// string "NaN", "+Inf" or "-Inf".
func (e Event) MarshalJSON() ([]byte, error) {
	if !math.IsNaN(e.Value) && !math.IsInf(e.Value, 0) {
		return json.Marshal(eventJSON(e))
	}
	return json.Marshal(struct {
		eventJSON
		V string `json:"v"`
	}{eventJSON(e), strconv.FormatFloat(e.Value, 'g', -1, 64)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	aux := struct {
		*eventJSON
		V json.RawMessage `json:"v"`
	}{eventJSON: (*eventJSON)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
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
