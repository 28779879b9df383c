package voice

import "fmt"

// MP3Answer is one frame an MP3 module sent: the answer to a query
// (AA 01 01 state sum for the play state).
type MP3Answer struct {
	Cmd  byte
	Data []byte
}

// PlayState names the state byte of an answer to QueryFrame.
func PlayState(b byte) string {
	switch b {
	case 0:
		return "stopped"
	case 1:
		return "playing"
	case 2:
		return "paused"
	}
	return fmt.Sprintf("state 0x%02X", b)
}

// MP3Parser cuts the frames an MP3 module sends out of a byte stream.
// Bytes before a start byte, and frames whose check byte is wrong, are
// counted as garbage and skipped; a frame is at most 4+255 bytes, so the
// parser holds at most that much.
type MP3Parser struct {
	buf     []byte
	Frames  uint64
	Garbage uint64 // bytes dropped
}

// Feed adds bytes and returns the whole frames they complete.
func (p *MP3Parser) Feed(b []byte) []MP3Answer {
	var out []MP3Answer
	for _, c := range b {
		if len(p.buf) == 0 && c != mp3Start {
			p.Garbage++
			continue
		}
		p.buf = append(p.buf, c)
		if len(p.buf) < 3 {
			continue
		}
		n := 4 + int(p.buf[2])
		if len(p.buf) < n {
			continue
		}
		f := p.buf[:n]
		if sum8(f[:n-1]) != f[n-1] {
			// Not a frame: drop the start byte and look for the next one
			// in what followed it.
			rest := append([]byte(nil), p.buf[1:]...)
			p.Garbage++
			p.buf = p.buf[:0]
			out = append(out, p.Feed(rest)...)
			continue
		}
		out = append(out, MP3Answer{Cmd: f[1], Data: append([]byte(nil), f[3:n-1]...)})
		p.Frames++
		p.buf = p.buf[:0]
	}
	return out
}

// ttsStatus is what a TTS module's status bytes have said so far. Each
// counter counts one status byte; a waiter compares counters before and
// after its own frame, so an answer is never taken for an older one.
type ttsStatus struct {
	received, errors, busy, idle, inits uint64
	garbage                             uint64
	// speaking: the last word was a received synthesis frame or busy,
	// with no idle since.
	speaking bool
	// known: some status has been heard since the port was opened.
	known bool
}

// feed updates s with bytes from the module. synthPending says a synthesis
// frame was sent and not yet answered, so that its 0x41 marks the module
// as speaking.
func (s *ttsStatus) feed(b []byte, synthPending bool) {
	for _, c := range b {
		switch c {
		case StatusReceived:
			s.received++
			if synthPending {
				s.speaking, s.known = true, true
			}
		case StatusError:
			s.errors++
		case StatusInit:
			s.inits++
			s.speaking, s.known = false, true
		case StatusBusy:
			s.busy++
			s.speaking, s.known = true, true
		case StatusIdle:
			s.idle++
			s.speaking, s.known = false, true
		default:
			s.garbage++
		}
	}
}
