package receiver

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Correcting untrusted times (docs/time.md). A gateway anchors each event
// in its boot (wire.Event.Boot, MonoMillis: milliseconds since the boot
// started, on a clock the wall clock's jumps do not move) and sends its
// boot and monotonic time with every heartbeat. The central's clock is the
// trusted time: a heartbeat received at T with MonoMillis m says the boot
// started at or before T - m (the heartbeat took some time on the way),
// so the earliest such start over the boot's heartbeats is kept. An event
// whose clock was not trusted then gets TimeCorrected = boot start +
// MonoMillis.
//
// Where: when events are read (the events API, jsstore.Consume for the
// exporters and the district's northbound stream), not when they are
// stored. A batch often arrives before the first heartbeat of a boot, and
// every later heartbeat can only tighten the start; reading applies what is
// known then, and the stored event stays as the gateway sent it.

// BootStart is when a boot of a gateway started, as the central learned it.
type BootStart struct {
	Boot  string    `json:"boot"`
	Start time.Time `json:"start"`
}

// MaxBoots is how many boots of one gateway a store keeps (the latest
// started): events of older boots are past any backlog worth correcting.
const MaxBoots = 32

// BootKeeper is the optional part of a Storage that keeps the boots of
// gateways. Both stores of this module implement it; without it the
// receiver corrects nothing.
type BootKeeper interface {
	// PutBootStart records that boot of gateway started at start, keeping
	// the earlier start when the boot is known (MergeBoot).
	PutBootStart(gateway, boot string, start time.Time) error
	// BootStarts returns the boots of gateway (none: no error).
	BootStarts(gateway string) ([]BootStart, error)
}

// MergeBoot returns boots with boot's start at the earlier of start and
// the one known, and the latest MaxBoots boots only; changed says whether
// anything moved.
func MergeBoot(boots []BootStart, boot string, start time.Time) (out []BootStart, changed bool) {
	start = start.UTC().Truncate(time.Millisecond)
	out = slices.Clone(boots)
	i := slices.IndexFunc(out, func(b BootStart) bool { return b.Boot == boot })
	switch {
	case i < 0:
		out = append(out, BootStart{Boot: boot, Start: start})
	case start.Before(out[i].Start):
		out[i].Start = start
	default:
		return boots, false
	}
	slices.SortStableFunc(out, func(a, b BootStart) int { return b.Start.Compare(a.Start) })
	if len(out) > MaxBoots {
		out = out[:MaxBoots]
	}
	return out, true
}

// HeartbeatBoot is the boot start a heartbeat received at recv tells, if
// it carries a boot anchor.
func HeartbeatBoot(hb *wire.Heartbeat, recv time.Time) (boot string, start time.Time, ok bool) {
	if hb.BootID == "" || len(hb.BootID) > wire.MaxBoot || hb.MonoMillis < 0 || hb.MonoMillis > 100*365*24*3600*1000 {
		return "", time.Time{}, false
	}
	return hb.BootID, recv.Add(-time.Duration(hb.MonoMillis) * time.Millisecond), true
}

// CorrectTime sets e.TimeCorrected to its boot's start + e.MonoMillis when
// e's clock was not trusted and boots has its boot; it reports whether it
// did.
func CorrectTime(e *wire.Event, boots []BootStart) bool {
	if e.ClockTrusted || e.Boot == "" {
		return false
	}
	for _, b := range boots {
		if b.Boot == e.Boot {
			t := b.Start.Add(time.Duration(e.MonoMillis) * time.Millisecond).UTC()
			if !wire.TimeFitsJSON(t) {
				return false
			}
			e.TimeCorrected = t
			return true
		}
	}
	return false
}

// CorrectEvents adds ts_corrected to the JSON of the events whose clock was
// not trusted and whose boot boots knows (CorrectTime), asking boots once
// per gateway. Events of trusted clocks (nearly all) cost a byte search.
// An error of boots leaves that gateway's events as they are.
func CorrectEvents(events []StoredEvent, boots func(gateway string) ([]BootStart, error)) {
	known := map[string][]BootStart{}
	for i := range events {
		se := &events[i]
		if !bytes.Contains(se.Event, []byte(`"trusted":false`)) || !bytes.Contains(se.Event, []byte(`"boot":"`)) {
			continue
		}
		bs, ok := known[se.Gateway]
		if !ok {
			bs, _ = boots(se.Gateway)
			known[se.Gateway] = bs
		}
		if len(bs) == 0 {
			continue
		}
		e, err := se.Decode()
		if err != nil || !CorrectTime(&e, bs) {
			continue
		}
		if js, err := json.Marshal(&e); err == nil {
			se.Event = js
		}
	}
}

// correctEvents is CorrectEvents with the receiver's store, when it keeps
// boots.
func (r *Receiver) correctEvents(events []StoredEvent) {
	if bk, ok := r.store.(BootKeeper); ok {
		CorrectEvents(events, bk.BootStarts)
	}
}

// learnBoot records the boot start a heartbeat tells. A failure is logged:
// the heartbeat itself is stored.
func (r *Receiver) learnBoot(gw string, hb *wire.Heartbeat, recv time.Time) {
	bk, ok := r.store.(BootKeeper)
	if !ok {
		return
	}
	boot, start, ok := HeartbeatBoot(hb, recv)
	if !ok {
		return
	}
	if err := bk.PutBootStart(gw, boot, start); err != nil {
		r.log.Warn("keep boot start", "gateway", gw, "boot", boot, "err", err)
	}
}
