package serial

import "bytes"

// Framer cuts a byte stream into frames. It is fed whatever each read
// returned, so frames may arrive split over several reads or several in one.
// It never holds more than MaxLength bytes of a partial frame: a longer one
// is counted as overlong, dropped, and the framer resynchronises on the next
// delimiter, start byte or sync byte. A Framer is not safe for concurrent use.
type Framer struct {
	mode     byte // 'l' line, 'd' delimited, 'f' fixed
	delim    []byte
	stripCR  bool
	start    []byte
	end      []byte
	length   int
	sync     []byte
	max      int
	buf      []byte
	skipping bool // line mode: dropping the rest of an overlong line

	// Frames, Garbage and Overlong count what Feed saw: frames handed on,
	// runs of bytes dropped between frames, frames dropped for length.
	Frames, Garbage, Overlong uint64
}

// NewFramer builds a framer from f (after Defaults and validation).
func NewFramer(f Framing) *Framer {
	f.defaults()
	fr := &Framer{delim: f.Delimiter, stripCR: *f.StripCR, start: f.Start, end: f.End,
		length: f.Length, sync: f.Sync, max: f.MaxLength}
	switch f.Mode {
	case "delimited":
		fr.mode = 'd'
	case "fixed":
		fr.mode = 'f'
		if fr.length < 1 {
			fr.length = 1
		}
		if len(fr.sync) >= fr.length {
			fr.sync = nil
		}
	default:
		fr.mode = 'l'
		if len(fr.delim) == 0 {
			fr.delim = []byte{'\n'}
		}
	}
	if fr.max < 1 {
		fr.max = 1
	}
	if len(fr.start) == 0 {
		fr.start = []byte{0x02}
	}
	if len(fr.end) == 0 {
		fr.end = []byte{0x03}
	}
	fr.buf = make([]byte, 0, 256)
	return fr
}

// Feed cuts p into frames and calls emit with each. The frame is only valid
// during the call.
func (f *Framer) Feed(p []byte, emit func(frame []byte)) {
	if len(f.buf) == 0 {
		n := f.scan(p, emit)
		f.keep(p[n:])
		return
	}
	f.buf = append(f.buf, p...)
	n := f.scan(f.buf, emit)
	rest := copy(f.buf, f.buf[n:])
	f.buf = f.buf[:rest]
	f.bound()
}

// Reset drops a partial frame (after a silence or a reconnect) and reports
// whether there was one; a dropped partial frame counts as garbage.
func (f *Framer) Reset() bool {
	had := len(f.buf) > 0
	if had {
		f.Garbage++
	}
	f.buf = f.buf[:0]
	f.skipping = false
	return had
}

// Pending is the number of bytes of a partial frame held.
func (f *Framer) Pending() int { return len(f.buf) }

func (f *Framer) keep(rest []byte) {
	f.buf = append(f.buf[:0], rest...)
	f.bound()
}

// bound enforces the length limit on the partial frame held.
func (f *Framer) bound() {
	switch f.mode {
	case 'l':
		// Room for a CR and a partial delimiter after a line of max bytes.
		if len(f.buf) > f.max+len(f.delim) {
			f.Overlong++
			// Keep what may be the first bytes of a delimiter.
			k := len(f.delim) - 1
			n := copy(f.buf, f.buf[len(f.buf)-k:])
			f.buf = f.buf[:n]
			f.skipping = true
		}
	case 'd':
		// buf starts with start; the payload must end within max bytes.
		if len(f.buf) > len(f.start)+f.max+len(f.end) {
			f.Overlong++
			// Resynchronise on a later start byte, if any.
			i := bytes.Index(f.buf[1:], f.start)
			if i < 0 {
				f.buf = f.buf[:0]
				return
			}
			n := copy(f.buf, f.buf[1+i:])
			f.buf = f.buf[:n]
			f.bound()
		}
	case 'f':
		// scan leaves less than one frame (plus sync) behind.
	}
}

// scan emits every complete frame in d and returns the bytes consumed; what
// is left is the start of an incomplete frame.
func (f *Framer) scan(d []byte, emit func([]byte)) int {
	switch f.mode {
	case 'd':
		return f.scanDelimited(d, emit)
	case 'f':
		return f.scanFixed(d, emit)
	}
	return f.scanLine(d, emit)
}

func (f *Framer) index(d, sep []byte) int {
	if len(sep) == 1 {
		return bytes.IndexByte(d, sep[0])
	}
	return bytes.Index(d, sep)
}

func (f *Framer) scanLine(d []byte, emit func([]byte)) int {
	off := 0
	for {
		i := f.index(d[off:], f.delim)
		if i < 0 {
			if f.skipping {
				// Drop the rest of the overlong line, but keep what may be
				// the first bytes of a delimiter split over two reads.
				return max(off, len(d)-(len(f.delim)-1))
			}
			return off
		}
		line := d[off : off+i]
		off += i + len(f.delim)
		if f.skipping {
			f.skipping = false
			continue
		}
		if f.stripCR && len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			continue
		}
		if len(line) > f.max {
			f.Overlong++
			continue
		}
		f.Frames++
		emit(line)
	}
}

func (f *Framer) scanDelimited(d []byte, emit func([]byte)) int {
	off := 0
	for off < len(d) {
		s := f.index(d[off:], f.start)
		if s < 0 {
			// Keep a possible partial start sequence at the end.
			keep := min(len(f.start)-1, len(d)-off)
			for keep > 0 && !bytes.HasPrefix(f.start, d[len(d)-keep:]) {
				keep--
			}
			if len(d)-keep > off {
				f.Garbage++
			}
			return len(d) - keep
		}
		if s > 0 {
			f.Garbage++
		}
		off += s
		body := d[off+len(f.start):]
		e := f.index(body, f.end)
		limit := f.max
		if e < 0 {
			if len(body) > limit+len(f.end) {
				f.Overlong++
				off++ // resynchronise on the next start
				continue
			}
			// An inner start means the frame was cut short: restart there.
			if in := f.index(body, f.start); in >= 0 {
				f.Garbage++
				off += len(f.start) + in
				continue
			}
			return off
		}
		if in := f.index(body[:e], f.start); in >= 0 {
			f.Garbage++
			off += len(f.start) + in
			continue
		}
		if e > limit {
			f.Overlong++
			off += len(f.start) + e + len(f.end)
			continue
		}
		f.Frames++
		emit(body[:e])
		off += len(f.start) + e + len(f.end)
	}
	return off
}

func (f *Framer) scanFixed(d []byte, emit func([]byte)) int {
	off := 0
	if len(f.sync) == 0 {
		for len(d)-off >= f.length {
			f.Frames++
			emit(d[off : off+f.length])
			off += f.length
		}
		return off
	}
	for off < len(d) {
		s := f.index(d[off:], f.sync)
		if s < 0 {
			keep := min(len(f.sync)-1, len(d)-off)
			for keep > 0 && !bytes.HasPrefix(f.sync, d[len(d)-keep:]) {
				keep--
			}
			if len(d)-keep > off {
				f.Garbage++
			}
			return len(d) - keep
		}
		if s > 0 {
			f.Garbage++
		}
		off += s
		if len(d)-off < f.length {
			return off
		}
		f.Frames++
		emit(d[off : off+f.length])
		off += f.length
	}
	return off
}
