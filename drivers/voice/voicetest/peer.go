// Package voicetest plays a voice broadcast module on the far end of a
// serial line (a pty), from the modules' datasheets: the MP3 track modules
// (DY-SV17F, JQ8400: AA cmd len data sum, no answer to control commands,
// AA 01 01 state sum to a state query) and the TTS modules (SYN6288,
// XFS5152CE: FD len_hi len_lo cmd param text [xor]; 0x41 for a frame
// received, 0x45 for a bad one, 0x4E/0x4F busy/idle to a query and 0x4F
// when a synthesis ends). It shares no code with the driver it tests: its
// framing, checks and GBK decoding are its own.
package voicetest

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Frame is one whole frame the module received.
type Frame struct {
	Raw  []byte
	Cmd  byte
	Data []byte // MP3: the data bytes; TTS: parameter and text
	Text string // TTS synthesis: the text, decoded from GBK
}

// Peer is one module. Set the fields before Serve.
type Peer struct {
	// Proto is dy, jq8400, syn6288 or xfs5152.
	Proto string
	// AutoIdle ends every synthesis at once (0x4F right after 0x41);
	// otherwise the module speaks until Finish.
	AutoIdle bool
	// Silent never answers anything.
	Silent bool
	// Refuse answers 0x45 to synthesis frames.
	Refuse bool
	// Init sends the XFS5152CE's 0x4A (initialised) when Serve starts.
	Init bool

	mu       sync.Mutex
	w        io.Writer
	raw      []byte
	frames   []Frame
	bad      int
	queries  int
	busyAns  int // queries answered busy
	speaking bool
	state    byte // MP3 play state
	changed  chan struct{}
}

func (p *Peer) init() {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
}

// Changed is closed at the next change of the peer's state (a byte
// received, an answer sent); call it again for the one after.
func (p *Peer) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	return p.changed
}

func (p *Peer) signal() {
	p.init()
	close(p.changed)
	p.changed = make(chan struct{})
}

// Serve plays the module on rw until a read fails (the pty closed).
func (p *Peer) Serve(rw io.ReadWriter) error {
	p.mu.Lock()
	p.w = rw
	p.init()
	p.mu.Unlock()
	if p.Init && !p.Silent {
		p.answer(0x4A)
	}
	var buf []byte
	b := make([]byte, 256)
	for {
		n, err := rw.Read(b)
		if n > 0 {
			p.mu.Lock()
			p.raw = append(p.raw, b[:n]...)
			p.signal()
			p.mu.Unlock()
			buf = append(buf, b[:n]...)
			buf = p.parse(buf)
		}
		if err != nil {
			return err
		}
	}
}

func (p *Peer) tts() bool { return p.Proto == "syn6288" || p.Proto == "xfs5152" }

// parse consumes whole frames from buf and returns what is left.
func (p *Peer) parse(buf []byte) []byte {
	for len(buf) > 0 {
		if p.tts() {
			if buf[0] != 0xFD {
				p.badFrame()
				buf = buf[1:]
				continue
			}
			if len(buf) < 3 {
				return buf
			}
			n := 3 + (int(buf[1])<<8 | int(buf[2]))
			if len(buf) < n {
				return buf
			}
			p.ttsFrame(buf[:n])
			buf = buf[n:]
			continue
		}
		if buf[0] != 0xAA {
			p.badFrame()
			buf = buf[1:]
			continue
		}
		if len(buf) < 3 {
			return buf
		}
		n := 4 + int(buf[2])
		if len(buf) < n {
			return buf
		}
		p.mp3Frame(buf[:n])
		buf = buf[n:]
	}
	return buf
}

func (p *Peer) badFrame() {
	p.mu.Lock()
	p.bad++
	p.signal()
	p.mu.Unlock()
}

func (p *Peer) mp3Frame(f []byte) {
	var s byte
	for _, c := range f[:len(f)-1] {
		s += c
	}
	if s != f[len(f)-1] {
		p.badFrame() // an MP3 module ignores a frame with a bad sum
		return
	}
	fr := Frame{Raw: append([]byte(nil), f...), Cmd: f[1], Data: append([]byte(nil), f[3:len(f)-1]...)}
	p.mu.Lock()
	p.frames = append(p.frames, fr)
	switch fr.Cmd {
	case 0x07, 0x1B, 0x02:
		p.state = 1
	case 0x04, 0x10:
		p.state = 0
	}
	st := p.state
	p.signal()
	p.mu.Unlock()
	if fr.Cmd == 0x01 && !p.Silent {
		a := []byte{0xAA, 0x01, 0x01, st, 0}
		a[4] = 0xAA + 0x01 + 0x01 + st
		p.write(a)
	}
}

func (p *Peer) ttsFrame(f []byte) {
	body := f[3:]
	if p.Proto == "syn6288" {
		if len(body) < 2 {
			p.badFrame()
			p.answer(0x45)
			return
		}
		var x byte
		for _, c := range f[:len(f)-1] {
			x ^= c
		}
		if x != f[len(f)-1] {
			p.badFrame()
			p.answer(0x45)
			return
		}
		body = body[:len(body)-1]
	}
	if len(body) < 1 {
		p.badFrame()
		p.answer(0x45)
		return
	}
	fr := Frame{Raw: append([]byte(nil), f...), Cmd: body[0], Data: append([]byte(nil), body[1:]...)}
	switch fr.Cmd {
	case 0x01: // synthesise: param (encoding in the low bits), text
		if len(fr.Data) < 2 || fr.Data[0]&0x07 != 0x01 && fr.Data[0]&0x07 != 0x00 {
			p.badFrame()
			p.answer(0x45)
			return
		}
		txt, err := simplifiedchinese.GBK.NewDecoder().Bytes(fr.Data[1:])
		if err != nil {
			p.badFrame()
			p.answer(0x45)
			return
		}
		fr.Text = string(txt)
		p.mu.Lock()
		p.frames = append(p.frames, fr)
		p.signal()
		p.mu.Unlock()
		if p.Refuse {
			p.answer(0x45)
			return
		}
		p.mu.Lock()
		p.speaking = true
		p.mu.Unlock()
		p.answer(0x41)
		if p.AutoIdle {
			p.Finish()
		}
	case 0x21: // query
		p.mu.Lock()
		p.frames = append(p.frames, fr)
		p.queries++
		sp := p.speaking
		if sp {
			p.busyAns++
		}
		p.signal()
		p.mu.Unlock()
		if sp {
			p.answer(0x4E)
		} else {
			p.answer(0x4F)
		}
	case 0x02, 0x03, 0x04, 0x88, 0xFF: // stop, pause, resume, sleep, wake
		p.mu.Lock()
		p.frames = append(p.frames, fr)
		p.signal()
		p.mu.Unlock()
		p.answer(0x41)
		if fr.Cmd == 0x02 {
			p.Finish()
		}
	default:
		p.badFrame()
		p.answer(0x45)
	}
}

func (p *Peer) answer(b byte) {
	if p.Silent {
		return
	}
	p.write([]byte{b})
}

func (p *Peer) write(b []byte) {
	p.mu.Lock()
	w := p.w
	p.mu.Unlock()
	if w != nil {
		w.Write(b)
	}
	p.mu.Lock()
	p.signal()
	p.mu.Unlock()
}

// Finish ends the synthesis under way: the module goes idle and says so
// (0x4F).
func (p *Peer) Finish() error {
	p.mu.Lock()
	was := p.speaking
	p.speaking = false
	p.mu.Unlock()
	if !was {
		return errors.New("voicetest: the module was not speaking")
	}
	p.answer(0x4F)
	return nil
}

// Send puts bytes on the line from the module's side (noise, a wrong
// baud rate's garbage).
func (p *Peer) Send(b []byte) { p.write(b) }

// Frames returns the frames received so far.
func (p *Peer) Frames() []Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Frame(nil), p.frames...)
}

// Texts returns the texts of the synthesis frames received so far.
func (p *Peer) Texts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, f := range p.frames {
		if f.Cmd == 0x01 && p.tts() {
			out = append(out, f.Text)
		}
	}
	return out
}

// Raw returns every byte received.
func (p *Peer) Raw() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.raw...)
}

// Counts returns the bad frames (and stray bytes), the status queries
// received, and those answered busy.
func (p *Peer) Counts() (bad, queries, busyAnswers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bad, p.queries, p.busyAns
}

// Speaking reports whether a synthesis is under way.
func (p *Peer) Speaking() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.speaking
}

// String describes the peer's frames, for test failures.
func (p *Peer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("%s peer: %d frames, %d bad;", p.Proto, len(p.frames), p.bad)
	for _, f := range p.frames {
		s += fmt.Sprintf(" [% X]", f.Raw)
	}
	return s
}
