package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// MaxBatchEvents is the most events one batch may hold.
const MaxBatchEvents = 1 << 20

// Errors of batch decoding. A receiver answers ErrMalformed with 400 and
// ErrTooLarge with 413.
var (
	ErrMalformed = errors.New("malformed batch")
	ErrTooLarge  = errors.New("batch too large")
)

// batchDoc is the columnar JSON form of a batch (PROTOCOL.md, "Batch
// encoding"). Every column has n entries; optional columns may be left out
// when every entry is 0.
type batchDoc struct {
	Version   int       `json:"version"`
	N         int       `json:"n"`
	Strings   []string  `json:"strings"`
	Epochs    []string  `json:"epochs"`
	Epoch     []int     `json:"epoch"`
	Seq       []int64   `json:"seq"`
	TS        []int64   `json:"ts"`
	Untrusted []int     `json:"untrusted"`
	Kind      []int     `json:"kind"`
	Prio      []int     `json:"prio"`
	Dev       []int     `json:"dev"`
	Pt        []int     `json:"pt"`
	V         []float64 `json:"v"`
	VX        []special `json:"vx"`
	Unit      []int     `json:"unit"`
	Q         []int     `json:"q"`
	Text      []int     `json:"text"`
	Online    []int     `json:"online"`
	Loc       []int     `json:"loc"`
	Boot      []int     `json:"boot"`
	Mono      []int64   `json:"mono"`
	Ext       []ext     `json:"ext"`
}

// special carries a value JSON numbers cannot: NaN, +Inf, -Inf.
type special struct {
	I int    `json:"i"`
	V string `json:"v"`
}

// ext carries the structured payload of event I.
type ext struct {
	I      int     `json:"i"`
	Alert  *Alert  `json:"alert,omitempty"`
	Gap    *Gap    `json:"gap,omitempty"`
	Action *Action `json:"action,omitempty"`
}

// EncodeBatch returns the uncompressed columnar JSON encoding of events, in
// the order given. Time is kept to the millisecond.
func EncodeBatch(events []Event) []byte {
	return AppendBatch(make([]byte, 0, 64+len(events)*24), events)
}

// AppendBatch appends the encoding of events to dst (see EncodeBatch).
func AppendBatch(dst []byte, events []Event) []byte {
	n := len(events)
	strIdx := map[string]int{"": 0}
	strs := []string{""}
	str := func(s string) int {
		if i, ok := strIdx[s]; ok {
			return i
		}
		i := len(strs)
		strIdx[s] = i
		strs = append(strs, s)
		return i
	}
	epIdx := map[uint64]int{}
	var eps []uint64
	// Intern in column order so the table is stable for a given batch.
	kind := make([]int, n)
	dev := make([]int, n)
	pt := make([]int, n)
	unit := make([]int, n)
	text := make([]int, n)
	epoch := make([]int, n)
	var loc []int  // made on the first event with a location: most batches of old gateways have none
	var boot []int // made on the first event with a boot anchor
	bootIdx, bootI := "", 0
	var anyDev, anyPt, anyUnit, anyText, anyEpoch, anyPrio, anyV, anyQ, anyOnline, anyUntrusted bool
	var specials []special
	var exts []ext
	for i := range events {
		e := &events[i]
		kind[i] = str(e.Kind)
		dev[i] = str(e.Device)
		pt[i] = str(e.Point)
		unit[i] = str(e.Unit)
		text[i] = str(e.Text)
		if e.Location != "" {
			if loc == nil {
				loc = make([]int, n)
			}
			loc[i] = str(e.Location)
		}
		if e.Boot != "" {
			if boot == nil {
				boot = make([]int, n)
			}
			if e.Boot != bootIdx { // a batch is mostly of one boot
				bootIdx, bootI = e.Boot, str(e.Boot)
			}
			boot[i] = bootI
		}
		j, ok := epIdx[e.Epoch]
		if !ok {
			j = len(eps)
			epIdx[e.Epoch] = j
			eps = append(eps, e.Epoch)
		}
		epoch[i] = j
		anyDev = anyDev || dev[i] != 0
		anyPt = anyPt || pt[i] != 0
		anyUnit = anyUnit || unit[i] != 0
		anyText = anyText || text[i] != 0
		anyEpoch = anyEpoch || j != 0
		anyPrio = anyPrio || e.Priority != 0
		anyV = anyV || e.Value != 0
		anyQ = anyQ || e.Quality != 0
		anyOnline = anyOnline || e.Online != nil
		anyUntrusted = anyUntrusted || !e.ClockTrusted
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
			specials = append(specials, special{I: i, V: strconv.FormatFloat(e.Value, 'g', -1, 64)})
		}
		if e.Alert != nil || e.Gap != nil || e.Action != nil {
			exts = append(exts, ext{I: i, Alert: e.Alert, Gap: e.Gap, Action: e.Action})
		}
	}

	b := append(dst, `{"version":1,"n":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"strings":[`...)
	for i, s := range strs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	b = append(b, `],"epochs":[`...)
	for i, ep := range eps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendUint(b, ep, 10)
		b = append(b, '"')
	}
	b = append(b, ']')
	if anyEpoch {
		b = appendInts(b, "epoch", epoch)
	}
	b = append(b, `,"seq":[`...)
	var prevSeq uint64
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(events[i].Seq-prevSeq), 10) // wraps: decoders add mod 2^64
		prevSeq = events[i].Seq
	}
	b = append(b, `],"ts":[`...)
	var prevTS int64
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		ms := events[i].Time.UnixMilli()
		b = strconv.AppendInt(b, ms-prevTS, 10)
		prevTS = ms
	}
	b = append(b, ']')
	if anyUntrusted {
		b = appendColumn(b, "untrusted", n, func(i int) int { return b2i(!events[i].ClockTrusted) })
	}
	b = appendInts(b, "kind", kind)
	if anyPrio {
		b = appendColumn(b, "prio", n, func(i int) int { return int(events[i].Priority) })
	}
	if anyDev {
		b = appendInts(b, "dev", dev)
	}
	if anyPt {
		b = appendInts(b, "pt", pt)
	}
	if anyV {
		b = append(b, `,"v":[`...)
		for i := range events {
			if i > 0 {
				b = append(b, ',')
			}
			v := events[i].Value
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0
			}
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, ']')
	}
	if len(specials) > 0 {
		js, _ := json.Marshal(specials)
		b = append(b, `,"vx":`...)
		b = append(b, js...)
	}
	if anyUnit {
		b = appendInts(b, "unit", unit)
	}
	if anyQ {
		b = appendColumn(b, "q", n, func(i int) int { return int(events[i].Quality) })
	}
	if anyText {
		b = appendInts(b, "text", text)
	}
	if anyOnline {
		b = appendColumn(b, "online", n, func(i int) int {
			switch o := events[i].Online; {
			case o == nil:
				return 0
			case *o:
				return 2
			default:
				return 1
			}
		})
	}
	if loc != nil {
		b = appendInts(b, "loc", loc)
	}
	if boot != nil {
		b = appendInts(b, "boot", boot)
		// mono − ts, delta-encoded: while the wall clock runs with the
		// monotonic one, every entry is 0 or ±1 ms, which gzip all but
		// drops (absolute values cost two bytes a reading; see
		// PROTOCOL.md §3). An event without a boot counts as mono 0.
		b = append(b, `,"mono":[`...)
		var prev int64
		for i := range events {
			if i > 0 {
				b = append(b, ',')
			}
			var ms int64
			if events[i].Boot != "" {
				ms = max(events[i].MonoMillis, 0)
			}
			off := ms - events[i].Time.UnixMilli()
			b = strconv.AppendInt(b, off-prev, 10)
			prev = off
		}
		b = append(b, ']')
	}
	if len(exts) > 0 {
		js, _ := json.Marshal(exts) // plain structs of strings and numbers: cannot fail
		b = append(b, `,"ext":`...)
		b = append(b, js...)
	}
	return append(b, '}')
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	js, _ := json.Marshal(s) // a string always marshals
	return append(b, js...)
}

func appendInts(b []byte, name string, col []int) []byte {
	return appendColumn(b, name, len(col), func(i int) int { return col[i] })
}

func appendColumn(b []byte, name string, n int, f func(int) int) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(f(i)), 10)
	}
	return append(b, ']')
}

// GzipBatch returns the gzip-compressed encoding of events: a request body
// for POST /v1/batches.
func GzipBatch(events []Event) ([]byte, error) {
	raw := EncodeBatch(events)
	var buf bytes.Buffer
	buf.Grow(len(raw)/4 + 64)
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadBatch reads a gzip batch body from r (at most MaxBatchBody bytes),
// gunzips it, refusing more than maxDecoded bytes of decompressed data
// (ErrTooLarge: a gzip bomb stops there), and decodes the batch.
// maxDecoded <= 0 means MaxBatchDecoded.
func ReadBatch(r io.Reader, maxDecoded int64) ([]Event, error) {
	body, err := ReadLimited(r, -1, MaxBatchBody)
	if errors.Is(err, ErrBodyTooLarge) {
		return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	} else if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrMalformed, err)
	}
	raw, err := Gunzip(body, maxDecoded, nil)
	if err != nil {
		return nil, err
	}
	return DecodeBatch(raw)
}

// Gunzip decompresses a gzip body of one member (what every gzip writer
// makes) into one buffer of at most max bytes (max <= 0 means
// MaxBatchDecoded), so a gzip bomb costs at most max. The buffer is sized
// once, from the uncompressed size the gzip trailer declares: a trailer that
// declares more than max is ErrTooLarge before anything is decompressed,
// and data that runs past what the trailer declares is ErrMalformed (a lying
// trailer, or a second member). Before the allocation it calls reserve (when
// not nil) with its size; an error from reserve is returned as is, so a
// caller can count the output against a memory budget.
func Gunzip(body []byte, max int64, reserve func(n int64) error) ([]byte, error) {
	if max <= 0 {
		max = MaxBatchDecoded
	}
	if len(body) < 18 { // 10 bytes of header, 8 of trailer
		return nil, fmt.Errorf("%w: gzip: %d bytes is too short", ErrMalformed, len(body))
	}
	size := int64(binary.LittleEndian.Uint32(body[len(body)-4:])) // ISIZE: the size mod 2^32
	if size > max {
		return nil, fmt.Errorf("%w: %d bytes decompressed, the limit is %d", ErrTooLarge, size, max)
	}
	br := bytes.NewReader(body)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
	}
	defer zr.Close()
	zr.Multistream(false)
	if reserve != nil {
		if err := reserve(size + 1); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, size+1) // +1: room to see data past the declared size
	n, err := io.ReadFull(zr, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: gzip: the data runs past the %d bytes its trailer declares", ErrMalformed, size)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
	case int64(n) != size:
		return nil, fmt.Errorf("%w: gzip: %d bytes, its trailer declares %d", ErrMalformed, n, size)
	case br.Len() > 0:
		return nil, fmt.Errorf("%w: gzip: %d bytes after the end of the stream", ErrMalformed, br.Len())
	}
	return buf[:n:n], nil
}

// DecodeCost bounds the bytes DecodeBatch allocates for raw, so a receiver
// can count a batch against its memory budget before it decodes it. JSON
// decoding costs far more than the text: a column entry "0," becomes an
// 8-byte integer in a slice that grows by copying, and every event a
// 232-byte struct, so a batch of minimal events costs 50 times its
// size or more. Every value but one big string needs a comma or a brace, and none
// costs more than about 100 bytes beyond its text (measured over the
// costliest shapes in TestDecodeCost); this counts 128.
func DecodeCost(raw []byte) int64 {
	marks := 0
	for _, c := range raw {
		if c == ',' || c == '{' {
			marks++
		}
	}
	return int64(len(raw)) + 128*int64(marks) + 64<<10
}

// DecodeBatch decodes an uncompressed batch. Any inconsistency (a column of
// the wrong length, an index out of range, a version other than 1) is an
// error wrapping ErrMalformed; unknown members are ignored.
func DecodeBatch(data []byte) ([]Event, error) {
	var d batchDoc
	if err := decodeBatchDoc(data, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, d.Version, Version)
	}
	n := d.N
	if n < 0 || n > MaxBatchEvents {
		return nil, fmt.Errorf("%w: n=%d out of range 0..%d", ErrMalformed, n, MaxBatchEvents)
	}
	if len(d.Strings) == 0 || d.Strings[0] != "" {
		return nil, fmt.Errorf("%w: strings must start with the empty string", ErrMalformed)
	}
	eps := make([]uint64, len(d.Epochs))
	for i, s := range d.Epochs {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: epochs[%d]: %v", ErrMalformed, i, err)
		}
		eps[i] = v
	}
	if n > 0 && len(eps) == 0 {
		return nil, fmt.Errorf("%w: no epochs", ErrMalformed)
	}
	ns := len(d.Strings)
	checks := []struct {
		name     string
		col      []int
		required bool
		max      int // exclusive
	}{
		{"epoch", d.Epoch, false, len(eps)},
		{"untrusted", d.Untrusted, false, 2},
		{"kind", d.Kind, true, ns},
		{"prio", d.Prio, false, 256},
		{"dev", d.Dev, false, ns},
		{"pt", d.Pt, false, ns},
		{"unit", d.Unit, false, ns},
		{"q", d.Q, false, 256},
		{"text", d.Text, false, ns},
		{"online", d.Online, false, 3},
		{"loc", d.Loc, false, ns},
		{"boot", d.Boot, false, ns},
	}
	for _, c := range checks {
		if err := checkColumn(c.name, len(c.col), n, c.required); err != nil {
			return nil, err
		}
		for i, v := range c.col {
			if v < 0 || v >= c.max {
				return nil, fmt.Errorf("%w: %s[%d]=%d out of range 0..%d", ErrMalformed, c.name, i, v, c.max-1)
			}
		}
	}
	for i, v := range d.Loc {
		if len(d.Strings[v]) > MaxLocation {
			return nil, fmt.Errorf("%w: loc[%d]: %d bytes, at most %d", ErrMalformed, i, len(d.Strings[v]), MaxLocation)
		}
	}
	if err := checkColumn("seq", len(d.Seq), n, true); err != nil {
		return nil, err
	}
	if err := checkColumn("ts", len(d.TS), n, true); err != nil {
		return nil, err
	}
	if err := checkColumn("v", len(d.V), n, false); err != nil {
		return nil, err
	}
	if err := checkColumn("mono", len(d.Mono), n, false); err != nil {
		return nil, err
	}
	if len(d.Mono) > 0 && len(d.Boot) == 0 {
		return nil, fmt.Errorf("%w: column mono without boot", ErrMalformed)
	}
	for i, v := range d.Boot {
		if len(d.Strings[v]) > MaxBoot {
			return nil, fmt.Errorf("%w: boot[%d]: %d bytes, at most %d", ErrMalformed, i, len(d.Strings[v]), MaxBoot)
		}
	}

	events := make([]Event, n)
	var seq uint64
	var ts, monoOff int64 // monoOff: mono − ts, the running sum of the mono column
	for i := range events {
		e := &events[i]
		seq += uint64(d.Seq[i])
		ts += d.TS[i]
		e.Seq = seq
		e.Time = time.UnixMilli(ts).UTC()
		e.ClockTrusted = true
		if len(d.Epoch) > 0 {
			e.Epoch = eps[d.Epoch[i]]
		} else if n > 0 {
			e.Epoch = eps[0]
		}
		if len(d.Untrusted) > 0 {
			e.ClockTrusted = d.Untrusted[i] == 0
		}
		e.Kind = d.Strings[d.Kind[i]]
		if len(d.Prio) > 0 {
			e.Priority = uint8(d.Prio[i])
		}
		if len(d.Dev) > 0 {
			e.Device = d.Strings[d.Dev[i]]
		}
		if len(d.Pt) > 0 {
			e.Point = d.Strings[d.Pt[i]]
		}
		if len(d.V) > 0 {
			e.Value = d.V[i]
		}
		if len(d.Unit) > 0 {
			e.Unit = d.Strings[d.Unit[i]]
		}
		if len(d.Q) > 0 {
			e.Quality = uint8(d.Q[i])
		}
		if len(d.Text) > 0 {
			e.Text = d.Strings[d.Text[i]]
		}
		if len(d.Loc) > 0 {
			e.Location = d.Strings[d.Loc[i]]
		}
		if len(d.Boot) > 0 {
			e.Boot = d.Strings[d.Boot[i]]
		}
		if len(d.Mono) > 0 {
			off, ok1 := addInt64(monoOff, d.Mono[i])
			mono, ok2 := addInt64(off, ts)
			if !ok1 || !ok2 || mono < 0 || (e.Boot == "" && mono != 0) {
				return nil, fmt.Errorf("%w: mono[%d]: time since boot out of range (or given without a boot)", ErrMalformed, i)
			}
			monoOff, e.MonoMillis = off, mono
		}
		if len(d.Online) > 0 && d.Online[i] != 0 {
			e.Online = BoolPtr(d.Online[i] == 2)
		}
	}
	for _, s := range d.VX {
		if s.I < 0 || s.I >= n {
			return nil, fmt.Errorf("%w: vx index %d out of range", ErrMalformed, s.I)
		}
		var v float64
		switch s.V {
		case "NaN":
			v = math.NaN()
		case "+Inf":
			v = math.Inf(1)
		case "-Inf":
			v = math.Inf(-1)
		default:
			return nil, fmt.Errorf("%w: vx value %q is not NaN, +Inf or -Inf", ErrMalformed, s.V)
		}
		events[s.I].Value = v
	}
	for _, x := range d.Ext {
		if x.I < 0 || x.I >= n {
			return nil, fmt.Errorf("%w: ext index %d out of range", ErrMalformed, x.I)
		}
		e := &events[x.I]
		if (x.Alert != nil && e.Alert != nil) || (x.Gap != nil && e.Gap != nil) || (x.Action != nil && e.Action != nil) {
			return nil, fmt.Errorf("%w: ext index %d given twice", ErrMalformed, x.I)
		}
		if x.Alert != nil {
			e.Alert = x.Alert
		}
		if x.Gap != nil {
			e.Gap = x.Gap
		}
		if x.Action != nil {
			e.Action = x.Action
		}
	}
	return events, nil
}

// addInt64 is a + b, and false when it overflows.
func addInt64(a, b int64) (int64, bool) {
	c := a + b
	return c, (c > a) == (b > 0)
}

func checkColumn(name string, got, n int, required bool) error {
	if got == n || (got == 0 && !required) {
		return nil
	}
	return fmt.Errorf("%w: column %s has %d entries, want %d", ErrMalformed, name, got, n)
}
