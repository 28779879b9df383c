package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// codecV1 is the leading byte of every encoded event. A new layout gets a new
// byte; Decode keeps reading the old ones.
const codecV1 = 1

// codecV2 is codecV1 followed by the boot anchor: str(boot) uvarint(mono
// in ms). Encode writes it only for events with a boot anchor, so a build
// before it still reads the records without one (and refuses, as unknown,
// those with one).
const codecV2 = 2

// Fixed header of a v1 record. Priority sits at a fixed offset so eviction
// scans can read it without decoding, and epoch and seq are fixed-width so
// the writer can patch them into a record encoded before its seq was known.
const (
	offVersion  = 0
	offPriority = 1
	offKind     = 2
	offFlags    = 3
	offQuality  = 4
	offEpoch    = 5
	offSeq      = 13
	offTime     = 21
	offValue    = 29
	headerLen   = 37
)

const (
	flagTrusted = 1 << iota
	flagHasTime
	flagHasOnline
	flagOnline
	flagAlert
	flagGap
	flagAction
	// flagLocation: the record ends with str(location). Records written
	// before events carried a location lack the flag and decode with none.
	flagLocation
)

// maxStringLen bounds a decoded string so garbage cannot ask for gigabytes.
const maxStringLen = 1 << 20

// ErrCorrupt is wrapped by Decode errors.
var ErrCorrupt = errors.New("corrupt event record")

// Encode appends the binary form of ev to dst.
func Encode(dst []byte, ev *edge.Event) []byte {
	var h [headerLen]byte
	h[offVersion] = codecV1
	if ev.Boot != "" {
		h[offVersion] = codecV2
	}
	h[offPriority] = byte(ev.Priority)
	h[offKind] = byte(ev.Kind)
	var fl byte
	if ev.ClockTrusted {
		fl |= flagTrusted
	}
	if !ev.Time.IsZero() {
		fl |= flagHasTime
		binary.BigEndian.PutUint64(h[offTime:], uint64(ev.Time.UnixNano()))
	}
	if ev.Online != nil {
		fl |= flagHasOnline
		if *ev.Online {
			fl |= flagOnline
		}
	}
	if ev.Alert != nil {
		fl |= flagAlert
	}
	if ev.Gap != nil {
		fl |= flagGap
	}
	if ev.Action != nil {
		fl |= flagAction
	}
	if ev.Location != "" {
		fl |= flagLocation
	}
	h[offFlags] = fl
	h[offQuality] = byte(ev.Quality)
	binary.BigEndian.PutUint64(h[offEpoch:], ev.Epoch)
	binary.BigEndian.PutUint64(h[offSeq:], ev.Seq)
	binary.BigEndian.PutUint64(h[offValue:], math.Float64bits(ev.Value))
	dst = append(dst, h[:]...)
	dst = putString(dst, ev.Device)
	dst = putString(dst, ev.Point)
	dst = putString(dst, ev.Unit)
	dst = putString(dst, ev.Text)
	if a := ev.Alert; a != nil {
		for _, s := range []string{a.ID, a.Rule, string(a.State), a.Severity, a.Message, a.By} {
			dst = putString(dst, s)
		}
		dst = binary.AppendUvarint(dst, a.Cause)
	}
	if g := ev.Gap; g != nil {
		dst = binary.AppendUvarint(dst, g.Epoch)
		dst = binary.AppendUvarint(dst, g.From)
		dst = binary.AppendUvarint(dst, g.To)
		dst = binary.AppendUvarint(dst, g.Count)
		dst = putString(dst, g.Reason)
	}
	if a := ev.Action; a != nil {
		for _, s := range []string{a.Rule, a.Output, a.Result, a.Error} {
			dst = putString(dst, s)
		}
	}
	if ev.Location != "" {
		dst = putString(dst, ev.Location)
	}
	if ev.Boot != "" {
		dst = putString(dst, ev.Boot)
		dst = binary.AppendUvarint(dst, uint64(max(ev.Mono, 0)/time.Millisecond))
	}
	return dst
}

// knownVersion reports whether v is a record layout Decode reads.
func knownVersion(v byte) bool { return v == codecV1 || v == codecV2 }

// EncodedLen is len(Encode(nil, ev)).
func EncodedLen(ev *edge.Event) int { return len(Encode(nil, ev)) }

func putString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// patchSeq writes epoch and seq into an encoded record.
func patchSeq(rec []byte, epoch, seq uint64) {
	binary.BigEndian.PutUint64(rec[offEpoch:], epoch)
	binary.BigEndian.PutUint64(rec[offSeq:], seq)
}

// recordPriority reads the priority of an encoded record without decoding it.
func recordPriority(rec []byte) (edge.Priority, bool) {
	if len(rec) < headerLen || !knownVersion(rec[offVersion]) {
		return 0, false
	}
	return edge.Priority(rec[offPriority]), true
}

// recordTime reads the time of an encoded record; zero when it has none.
func recordTime(rec []byte) time.Time {
	if len(rec) < headerLen || !knownVersion(rec[offVersion]) || rec[offFlags]&flagHasTime == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(rec[offTime:])))
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: string of %d bytes overruns record", ErrCorrupt, n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Decode parses a record made by Encode. It never panics on bad input.
func Decode(rec []byte) (edge.Event, error) {
	var ev edge.Event
	if len(rec) < 1 {
		return ev, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if !knownVersion(rec[offVersion]) {
		return ev, fmt.Errorf("%w: unknown version %d", ErrCorrupt, rec[0])
	}
	if len(rec) < headerLen {
		return ev, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(rec), headerLen)
	}
	fl := rec[offFlags]
	ev.Priority = edge.Priority(rec[offPriority])
	ev.Kind = edge.Kind(rec[offKind])
	ev.Quality = edge.Quality(rec[offQuality])
	ev.ClockTrusted = fl&flagTrusted != 0
	if fl&flagHasTime != 0 {
		ev.Time = time.Unix(0, int64(binary.BigEndian.Uint64(rec[offTime:])))
	}
	ev.Epoch = binary.BigEndian.Uint64(rec[offEpoch:])
	ev.Seq = binary.BigEndian.Uint64(rec[offSeq:])
	ev.Value = math.Float64frombits(binary.BigEndian.Uint64(rec[offValue:]))
	d := &decoder{b: rec[headerLen:]}
	ev.Device, ev.Point, ev.Unit, ev.Text = d.str(), d.str(), d.str(), d.str()
	if fl&flagHasOnline != 0 {
		on := fl&flagOnline != 0
		ev.Online = &on
	}
	if fl&flagAlert != 0 {
		a := &edge.Alert{ID: d.str(), Rule: d.str()}
		a.State = edge.AlertState(d.str())
		a.Severity, a.Message, a.By = d.str(), d.str(), d.str()
		a.Cause = d.uvarint()
		ev.Alert = a
	}
	if fl&flagGap != 0 {
		g := &edge.Gap{Epoch: d.uvarint()}
		g.From, g.To, g.Count = d.uvarint(), d.uvarint(), d.uvarint()
		g.Reason = d.str()
		ev.Gap = g
	}
	if fl&flagAction != 0 {
		ev.Action = &edge.ActionRecord{Rule: d.str(), Output: d.str(), Result: d.str(), Error: d.str()}
	}
	if fl&flagLocation != 0 {
		ev.Location = d.str()
	}
	if rec[offVersion] == codecV2 {
		ev.Boot = d.str()
		ms := d.uvarint()
		if ev.Boot == "" || ms > math.MaxInt64/uint64(time.Millisecond) {
			return edge.Event{}, fmt.Errorf("%w: bad boot anchor", ErrCorrupt)
		}
		ev.Mono = time.Duration(ms) * time.Millisecond
	}
	if d.err != nil {
		return edge.Event{}, d.err
	}
	if len(d.b) != 0 {
		return edge.Event{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return ev, nil
}
