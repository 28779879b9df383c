package export

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
)

// File formats of `edgecentral export`.
const (
	FormatCSV   = "csv"   // one header line, then one row per event (CSVHeader)
	FormatJSONL = "jsonl" // one JSON object per line: the stream's schema (docs/central.md)
)

// CSVHeader are the columns of FormatCSV. path is the event's full path
// (receiver.EventPath); loc is the device's location in the gateway's
// config, loc_building, loc_unit and loc_household its levels below the
// compound (unit is the reading's unit of measure). New columns are added
// at the end.
var CSVHeader = []string{"key", "gateway", "path", "epoch", "seq", "received", "ts", "trusted", "kind", "prio",
	"dev", "pt", "v", "unit", "q", "text", "online", "alert_id", "alert_rule", "alert_state", "alert_severity", "cursor",
	"loc", "loc_building", "loc_unit", "loc_household"}

// FileWriter writes events as CSV or JSON lines.
type FileWriter struct {
	format string
	w      io.Writer
	csv    *csv.Writer
	n      int
}

// NewFileWriter returns a writer of format (FormatCSV or FormatJSONL) to w.
func NewFileWriter(w io.Writer, format string) (*FileWriter, error) {
	f := &FileWriter{format: format, w: w}
	switch format {
	case FormatJSONL:
	case FormatCSV:
		f.csv = csv.NewWriter(w)
		if err := f.csv.Write(CSVHeader); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("format %q: want csv or jsonl", format)
	}
	return f, nil
}

// Write writes one event.
func (f *FileWriter) Write(s *receiver.StoredEvent) error {
	f.n++
	if f.csv == nil {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = f.w.Write(append(b, '\n'))
		return err
	}
	e, err := s.Decode()
	if err != nil {
		return fmt.Errorf("event %d of %s: %w", s.Cursor, s.Gateway, err)
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	online := ""
	if e.Online != nil {
		online = strconv.FormatBool(*e.Online)
	}
	v := ""
	if e.Kind == "reading" || e.Value != 0 {
		v = strconv.FormatFloat(e.Value, 'g', -1, 64)
	}
	q := ""
	if e.Quality != 0 {
		q = u(uint64(e.Quality))
	}
	var aid, arule, astate, asev string
	if a := e.Alert; a != nil {
		aid, arule, astate, asev = a.ID, a.Rule, a.State, a.Severity
	}
	return f.csv.Write([]string{Key(s.Gateway, e.Epoch, e.Seq), s.Gateway, s.Path, u(e.Epoch), u(e.Seq),
		s.Received.UTC().Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano), strconv.FormatBool(e.ClockTrusted),
		e.Kind, u(uint64(e.Priority)), e.Device, e.Point, v, e.Unit, q, e.Text, online, aid, arule, astate, asev, u(s.Cursor),
		e.Location, s.Building, s.Unit, s.Household})
}

// Count is how many events were written.
func (f *FileWriter) Count() int { return f.n }

// Flush writes what is buffered.
func (f *FileWriter) Flush() error {
	if f.csv != nil {
		f.csv.Flush()
		return f.csv.Error()
	}
	return nil
}
