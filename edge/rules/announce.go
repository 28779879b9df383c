package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Announcement is an announced opening of a device (a doctor's visit, a
// delivery): rules can test announced(device) while it runs, so that the
// door opening is recorded but does not alert.
type Announcement struct {
	Device string    `json:"device"`
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	By     string    `json:"by,omitempty"`
	Note   string    `json:"note,omitempty"`
	Seq    uint64    `json:"seq,omitempty"` // the event that announced it
}

// announce applies an announcement event read from the log. The window
// runs from the event's time when that lies within the window before now
// (the engine read it late), else from now (an event stamped by a clock
// that disagrees with the engine's).
func (c *Core) announce(ev *edge.Event, now time.Time) {
	if ev.Device == "" {
		return
	}
	if c.ann == nil {
		c.ann = map[string]Announcement{}
	}
	d := ev.AnnouncedFor()
	if d <= 0 {
		if _, ok := c.ann[ev.Device]; ok {
			delete(c.ann, ev.Device)
			c.annDirty, c.annVer = true, c.annVer+1
		}
		return
	}
	from := now
	if t := ev.Time; !t.IsZero() && !t.After(now) && now.Sub(t) < d {
		from = t
	}
	c.ann[ev.Device] = Announcement{Device: ev.Device, From: from, Until: from.Add(d), By: ev.Point, Note: ev.Text, Seq: ev.Seq}
	c.annDirty, c.annVer = true, c.annVer+1
}

// announced is the expression function announced(device): an announced
// window of device holds the time of the event being evaluated.
func (c *Core) announced(dev string) bool {
	a, ok := c.ann[dev]
	if !ok {
		return false
	}
	now := c.env.Now
	return !now.Before(a.From) && now.Before(a.Until)
}

// pruneAnnounce forgets the windows that ended.
func (c *Core) pruneAnnounce(now time.Time) {
	for dev, a := range c.ann {
		if !now.Before(a.Until) {
			delete(c.ann, dev)
			c.annDirty, c.annVer = true, c.annVer+1
		}
	}
}

// Announcements lists the announced windows not yet ended, by device.
func (c *Core) Announcements() []Announcement {
	out := make([]Announcement, 0, len(c.ann))
	for _, a := range c.ann {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// annKey holds the announced windows in the state store, so that a restart
// keeps them without reading the log from its start.
const annKey = "rules/announce"

func (c *Core) encodeAnnounce() ([]byte, error) {
	return json.Marshal(c.Announcements())
}

func (c *Core) loadAnnounce(b []byte) error {
	var list []Announcement
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("decode announcements: %w", err)
	}
	c.ann = map[string]Announcement{}
	for _, a := range list {
		c.ann[a.Device] = a
	}
	c.annVer++
	return nil
}

// Announce appends an announcement of device for d (0 withdraws it) to the
// log, and returns once the engine has applied it (or ctx ends: it is
// durable then, and applied later). The announcement is an event like any
// other: it syncs to the central platform and survives restarts.
func (e *Engine) Announce(ctx context.Context, device string, d time.Duration, by, note string) error {
	if device == "" {
		return errors.New("announce: no device")
	}
	if d < 0 || d > edge.MaxAnnounce {
		return fmt.Errorf("announce %s: window %v out of range 0..%v", device, d, edge.MaxAnnounce)
	}
	if len(note) > maxNote {
		return fmt.Errorf("announce %s: note of %d bytes is over the limit of %d", device, len(note), maxNote)
	}
	out, err := e.o.Log.Append(ctx, edge.Announcement(device, d, by, note))
	if err != nil {
		return fmt.Errorf("announce %s: %w", device, err)
	}
	seq := out[0].Seq
	for {
		e.mu.Lock()
		applied, changed := e.stats.Cursor > seq, e.changed
		e.mu.Unlock()
		if applied {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// maxNote bounds an announcement's note.
const maxNote = 256

// Announcements lists the announced windows the engine holds.
func (e *Engine) Announcements() []Announcement {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Announcement(nil), e.ann...)
}

// publishAnnounce refreshes the engine's copy of the windows after a
// change; it runs on the engine goroutine.
func (e *Engine) publishAnnounce() {
	if e.core.annVer == e.annSeen {
		return
	}
	e.annSeen = e.core.annVer
	list := e.core.Announcements()
	e.mu.Lock()
	e.ann = list
	e.notifyLocked()
	e.mu.Unlock()
}
