package status

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// EventReader is implemented by providers that can read their durable
// log: GET /api/events and `edgegw tail` use it.
type EventReader interface {
	// Events returns up to max durable events with seq >= from, in seq
	// order (evicted ones are skipped: their gap record says so).
	Events(ctx context.Context, from uint64, max int) ([]edge.Event, error)
}

// MaxEventsPage bounds one page of /api/events.
const MaxEventsPage = 1000

// EventsPage is one answer of /api/events.
type EventsPage struct {
	Events []edge.Event `json:"events"`
	// Next is the seq to ask from next time.
	Next uint64 `json:"next"`
}

// apiEvents serves /api/events?from=SEQ&limit=N; from=end starts after
// the last durable event (only new ones).
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	er, ok := s.opts.Provider.(EventReader)
	if !ok {
		jsonError(w, http.StatusNotImplemented, "this gateway cannot read its log")
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			jsonError(w, http.StatusBadRequest, "limit: want a number from 1 to "+strconv.Itoa(MaxEventsPage))
			return
		}
		limit = min(n, MaxEventsPage)
	}
	var from uint64
	switch v := q.Get("from"); v {
	case "", "end":
		snap, err := s.snapshot(r.Context())
		if err != nil {
			jsonError(w, http.StatusServiceUnavailable, "snapshot: "+err.Error())
			return
		}
		from = snap.Store.LastSeq + 1
		if v == "" {
			from = snap.Store.FirstSeq
		}
	default:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			jsonError(w, http.StatusBadRequest, "from: want a seq number or end")
			return
		}
		from = n
	}
	evs, err := er.Events(r.Context(), from, limit)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "read events: "+err.Error())
		return
	}
	next := from
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq + 1
	}
	if evs == nil {
		evs = []edge.Event{}
	}
	writeJSON(w, http.StatusOK, EventsPage{Events: evs, Next: next})
}

// Events reads one page of the gateway's log from seq from ("end": new
// events only).
func (c *Client) Events(ctx context.Context, from string, limit int) (*EventsPage, error) {
	raw, err := c.get(ctx, "/api/events?from="+from+"&limit="+strconv.Itoa(limit))
	if err != nil {
		return nil, err
	}
	var p EventsPage
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	return &p, nil
}

// TailOptions say what Tail prints.
type TailOptions struct {
	FromStart bool          // from the oldest stored event, not new ones only
	Follow    bool          // keep following; false: print what is stored and return
	Interval  time.Duration // between polls when nothing is new
	JSON      bool          // one JSON event per line, as the gateway stores it
	Clock     edge.Clock
}

// Tail prints the gateway's events as they are made durable, one line each,
// until ctx ends (or, without Follow, the log's end).
func Tail(ctx context.Context, c *Client, w io.Writer, o TailOptions) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	bw := bufio.NewWriter(w)
	from := "end"
	if o.FromStart {
		from = ""
	}
	for {
		p, err := c.Events(ctx, from, MaxEventsPage)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range p.Events {
			if o.JSON {
				b, _ := json.Marshal(ev)
				bw.Write(append(b, '\n'))
			} else {
				bw.WriteString(EventLine(&ev) + "\n")
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		from = strconv.FormatUint(p.Next, 10)
		if len(p.Events) == MaxEventsPage {
			continue
		}
		if !o.Follow {
			return nil
		}
		if err := edge.Sleep(ctx, o.Clock, o.Interval); err != nil {
			return nil
		}
	}
}

// EventLine is one event as `edgegw tail` prints it:
// SEQ TIME KIND DEVICE/POINT VALUE-OR-TEXT (a ? after the time: the clock
// was not trusted).
func EventLine(ev *edge.Event) string {
	ts := ev.Time.Local().Format("2006-01-02 15:04:05.000")
	if !ev.ClockTrusted {
		ts += "?"
	}
	what := ev.Device
	if ev.Point != "" {
		what += "/" + ev.Point
	}
	var val string
	switch {
	case ev.Alert != nil:
		val = fmt.Sprintf("%s %s %s %s", ev.Alert.Severity, ev.Alert.State, ev.Alert.ID, ev.Text)
	case ev.Gap != nil:
		b, _ := json.Marshal(ev.Gap)
		val = string(b)
	case ev.Online != nil:
		val = map[bool]string{true: "online", false: "offline"}[*ev.Online] + " " + ev.Text
	case ev.Text != "":
		val = ev.Text
	default:
		val = strconv.FormatFloat(ev.Value, 'f', -1, 64)
		if ev.Unit != "" {
			val += " " + ev.Unit
		}
	}
	if what == "" {
		what = "-"
	}
	return strings.TrimSpace(fmt.Sprintf("%-8d %s %-7s %-28s %s", ev.Seq, ts, ev.Kind, what, val))
}
