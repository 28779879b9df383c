package uplink

import (
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/wire"
)

// CursorAlert is the cursor of the alert lane: the next alert or gap record
// (priority PriorityAlert) not yet acknowledged. It goes ahead of
// everything, state changes included.
const CursorAlert = "uplink-alert"

// CursorPriority is the uplink's second durable cursor: the next event of
// priority PriorityHigh or more (state changes, alerts, gaps) not yet
// acknowledged. The priority lane sends those ahead of the readings
// backlog; the main cursor (edge.CursorUplink) then skips them, because the
// priority cursor moved past them only after an acknowledgement.
const CursorPriority = "uplink-prio"

// MinPriority is the lowest priority the priority lane carries.
const MinPriority = edge.PriorityHigh

// eventSize estimates the uncompressed wire size of ev in bytes: enough to
// cap batches and to estimate the backlog, not exact.
func eventSize(ev *edge.Event) int {
	n := 24 + len(ev.Device)/4 + len(ev.Point)/4 + len(ev.Text)/4 + len(ev.Location)/4
	if ev.Alert != nil {
		n += 64 + len(ev.Alert.ID) + len(ev.Alert.Rule) + len(ev.Alert.Message) + len(ev.Alert.Severity) + len(ev.Alert.By)
	}
	if ev.Gap != nil {
		n += 64 + len(ev.Gap.Reason)
	}
	if ev.Action != nil {
		n += 48 + len(ev.Action.Rule) + len(ev.Action.Output) + len(ev.Action.Error)
	}
	return n
}

// planBatch decides what of a read goes on the wire. Events skip says a
// higher lane acknowledged (they lie below its cursor) are left out. It
// returns the events to send (a prefix of the read, capped at maxBytes,
// filtered) and the number of read events the plan covers: once the sent
// events are acknowledged the lane's cursor moves past read[covered-1].
func planBatch(read []edge.Event, skip func(*edge.Event) bool, maxBytes int) (send []edge.Event, covered int) {
	bytes := 0
	// Until the first skipped event, what is sent is a prefix of read and
	// is returned as a slice of it, not copied (a drain reads thousands of
	// events per batch).
	n, prefix := 0, true
	for i := range read {
		ev := &read[i]
		if skip(ev) {
			if prefix {
				send, prefix = append(make([]edge.Event, 0, len(read)-1), read[:n]...), false
			}
			covered = i + 1
			continue
		}
		sz := eventSize(ev)
		if n > 0 && bytes+sz > maxBytes {
			break
		}
		bytes += sz
		if !prefix {
			send = append(send, *ev)
		}
		n++
		covered = i + 1
	}
	if prefix {
		send = read[:n:n]
	}
	return send, covered
}

// mainPlan is planBatch for the main lane behind the priority lane alone.
func mainPlan(read []edge.Event, prioNext uint64, maxBytes int) ([]edge.Event, int) {
	return planBatch(read, func(e *edge.Event) bool { return e.Priority >= MinPriority && e.Seq < prioNext }, maxBytes)
}

// toWire converts a log event to its wire form.
func toWire(e *edge.Event) wire.Event {
	w := wire.Event{
		Epoch: e.Epoch, Seq: e.Seq, Time: e.Time, ClockTrusted: e.ClockTrusted,
		Kind: e.Kind.String(), Priority: uint8(e.Priority),
		Device: e.Device, Point: e.Point, Value: e.Value, Unit: e.Unit,
		Quality: uint8(e.Quality), Text: e.Text, Location: e.Location, Online: e.Online,
		Boot: e.Boot, MonoMillis: e.Mono.Milliseconds(),
	}
	if a := e.Alert; a != nil {
		w.Alert = &wire.Alert{ID: a.ID, Rule: a.Rule, State: string(a.State), Severity: a.Severity, Message: a.Message, By: a.By, Cause: a.Cause}
	}
	if g := e.Gap; g != nil {
		w.Gap = &wire.Gap{Epoch: g.Epoch, From: g.From, To: g.To, Count: g.Count, Reason: g.Reason}
	}
	if a := e.Action; a != nil {
		w.Action = &wire.Action{Rule: a.Rule, Output: a.Output, Result: a.Result, Error: a.Error}
	}
	return w
}

// encode returns the gzip batch body of evs.
func encode(evs []edge.Event) ([]byte, error) {
	ws := make([]wire.Event, len(evs))
	for i := range evs {
		ws[i] = toWire(&evs[i])
	}
	return wire.GzipBatch(ws)
}
