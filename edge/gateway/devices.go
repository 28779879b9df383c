package gateway

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/store"
)

// DeviceState is what the gateway knows of one device, from durable events.
type DeviceState struct {
	edge.Device
	Known     bool      `json:"known"` // declared by a driver
	Online    bool      `json:"online"`
	Since     time.Time `json:"since,omitzero"` // when Online last changed
	Reason    string    `json:"reason,omitempty"`
	LastPoint string    `json:"last_point,omitempty"`
	LastValue float64   `json:"last_value"`
	LastText  string    `json:"last_text,omitempty"`
	LastUnit  string    `json:"last_unit,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	LastSeq   uint64    `json:"last_seq,omitempty"`
	Events    uint64    `json:"events"`
}

// registry tracks device state. It only sees events once they are durable
// (invariant 1): observe is the store's completion callback.
type registry struct {
	mu      sync.RWMutex
	devices map[string]*DeviceState
	// ingested counts durable events by this process; failed counts events
	// the store refused.
	ingested atomic.Uint64
	failed   atomic.Uint64
	lastErr  atomic.Pointer[string]
}

func newRegistry() *registry {
	return &registry{devices: map[string]*DeviceState{}}
}

// declare sets the devices the current drivers serve, keeping what is known
// of devices that stay.
func (r *registry) declare(devs []edge.Device) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]*DeviceState, len(devs))
	for _, d := range devs {
		st := r.devices[d.ID]
		if st == nil {
			st = &DeviceState{}
		}
		st.Device, st.Known = d, true
		next[d.ID] = st
	}
	r.devices = next
}

func (r *registry) meta(id string) (edge.Device, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.devices[id]
	if !ok {
		return edge.Device{ID: id}, false
	}
	return st.Device, true
}

func (r *registry) observe(ev edge.Event, err error) {
	if err != nil {
		r.failed.Add(1)
		s := err.Error()
		r.lastErr.Store(&s)
		return
	}
	r.ingested.Add(1)
	if ev.Device == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.devices[ev.Device]
	if st == nil {
		st = &DeviceState{Device: edge.Device{ID: ev.Device}}
		r.devices[ev.Device] = st
	}
	st.Events++
	st.LastSeq = ev.Seq
	switch ev.Kind {
	case edge.KindStatus:
		on := ev.IsOnline()
		if on != st.Online || st.Since.IsZero() {
			st.Since = ev.Time
		}
		st.Online, st.Reason = on, ev.Text
	case edge.KindReading, edge.KindState:
		if !st.Online {
			// Data from a device means it is reachable, whatever its driver said.
			st.Online, st.Since, st.Reason = true, ev.Time, ""
		}
		st.LastPoint, st.LastValue, st.LastText, st.LastUnit, st.LastSeen = ev.Point, ev.Value, ev.Text, ev.Unit, ev.Time
	}
}

// snapshot returns the devices sorted by id.
func (r *registry) snapshot() []DeviceState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]DeviceState, 0, len(r.devices))
	for _, st := range r.devices {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// locate sets the location of an event of a device to the device's
// location in the running config ("" for a device the config does not
// declare): the config, not the producer, says where a device is.
func (r *registry) locate(ev *edge.Event) {
	if ev.Device == "" {
		return
	}
	r.mu.RLock()
	st := r.devices[ev.Device]
	loc := ""
	if st != nil {
		loc = st.Location
	}
	r.mu.RUnlock()
	ev.Location = loc
}

// locatingLog is the store as everything that records events sees it (the
// drivers' sink, the rule engine's alerts and announcements, the action
// runner's records): the one place where an event gets its device's
// location, at the time it is recorded.
type locatingLog struct {
	*store.Store
	reg *registry
}

func (l locatingLog) Append(ctx context.Context, evs ...edge.Event) ([]edge.Event, error) {
	located := make([]edge.Event, len(evs)) // the caller's slice stays as it was
	for i := range evs {
		located[i] = evs[i]
		l.reg.locate(&located[i])
	}
	return l.Store.Append(ctx, located...)
}

func (l locatingLog) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	l.reg.locate(&ev)
	return l.Store.AppendAsync(ev, done)
}

var _ edge.Log = locatingLog{}

// sink is what drivers emit into: the store's group-commit queue.
type sink struct {
	log edge.Log
	reg *registry
}

func (s sink) Emit(ev edge.Event) error {
	return s.log.AppendAsync(ev, s.reg.observe)
}
