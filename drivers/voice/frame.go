package voice

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgegw/edgegw/edge"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Protocol is the serial protocol of a voice module family.
type Protocol string

// The module families. The MP3 track modules (dy, jq8400) play files from
// their flash or SD card and never answer a control command; the TTS
// modules (syn6288, xfs5152) synthesise GBK text and answer every frame
// with a status byte.
const (
	DY      Protocol = "dy"      // DY-SV17F, DY-SV5W, DY-SV8F (and the DFR0534 built on them)
	JQ8400  Protocol = "jq8400"  // JQ8400-FL, JQ8900 (two-wire UART mode)
	SYN6288 Protocol = "syn6288" // Yutone SYN6288
	XFS5152 Protocol = "xfs5152" // iFlytek XFS5152CE
)

// Protocols lists the known protocols, in the order the docs give them.
var Protocols = []Protocol{DY, JQ8400, SYN6288, XFS5152}

// ParseProtocol accepts a protocol name (case-insensitive; "xfs5152ce" too).
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(strings.TrimSpace(s))); p {
	case DY, JQ8400, SYN6288, XFS5152:
		return p, nil
	case "xfs5152ce":
		return XFS5152, nil
	case "":
		return "", edge.Msgf("protocol is required: dy, jq8400, syn6288 or xfs5152")
	}
	return "", edge.Msgf("unknown protocol %q (want dy, jq8400, syn6288 or xfs5152)", s)
}

// TTS reports whether the module speaks text (else it plays tracks).
func (p Protocol) TTS() bool { return p == SYN6288 || p == XFS5152 }

// MaxVolume is the top of the module's volume scale: 30 on the MP3
// modules (AA 13), 16 on the SYN6288 and 10 on the XFS5152CE ([vN] in the
// text).
func (p Protocol) MaxVolume() int {
	switch p {
	case SYN6288:
		return 16
	case XFS5152:
		return 10
	}
	return 30
}

// TextLimit is the most text bytes one synthesis frame carries: 200 on the
// SYN6288 (its datasheet's limit), 4000 on the XFS5152CE (its data area is
// 4 KiB, command and encoding bytes included). 0 for the MP3 modules.
func (p Protocol) TextLimit() int {
	switch p {
	case SYN6288:
		return 200
	case XFS5152:
		return 4000
	}
	return 0
}

// MP3 module frames (DY-SV17F and JQ8400 datasheets, "communication
// protocol"): AA cmd len data... sum, where sum is the low byte of the sum
// of every byte before it, AA included. Multi-byte numbers are big-endian.
const (
	mp3Start = 0xAA

	mp3Query       = 0x01 // query play state: AA 01 00 AB -> AA 01 01 state sum
	mp3Stop        = 0x04 // DY: stop
	mp3PlayTrack   = 0x07 // play track N: AA 07 02 hi lo sum
	mp3EndPlay     = 0x10 // JQ8400: end playback (its reliable stop)
	mp3Volume      = 0x13 // volume 0..30: AA 13 01 vol sum
	mp3Combination = 0x1B // play a combination of files /ZH/NN.mp3: AA 1B len "NN".. sum
)

// MaxTracks is the most tracks one combination frame carries. Each track
// is two ASCII digits in the frame; the modules' own buffers are small, so
// this stays well under the length byte's 255.
const MaxTracks = 20

// mp3Frame builds AA cmd len data... sum.
func mp3Frame(cmd byte, data ...byte) []byte {
	f := make([]byte, 0, 4+len(data))
	f = append(f, mp3Start, cmd, byte(len(data)))
	f = append(f, data...)
	return append(f, sum8(f))
}

func sum8(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// PlayTrackFrame plays track n (1..65535, the module's file index).
func PlayTrackFrame(n int) ([]byte, error) {
	if n < 1 || n > 65535 {
		return nil, fmt.Errorf("track %d out of range 1..65535", n)
	}
	return mp3Frame(mp3PlayTrack, byte(n>>8), byte(n)), nil
}

// VolumeFrame sets an MP3 module's volume, 0..30.
func VolumeFrame(v int) ([]byte, error) {
	if v < 0 || v > 30 {
		return nil, fmt.Errorf("volume %d out of range 0..30", v)
	}
	return mp3Frame(mp3Volume, byte(v)), nil
}

// CombinationFrame plays the files /ZH/01.mp3, /ZH/05.mp3 ... one after
// the other ("please" + "sort your garbage" + "hours are 7 to 9"). Each
// track is 1..99, sent as its two-digit file name.
func CombinationFrame(tracks []int) ([]byte, error) {
	if len(tracks) == 0 {
		return nil, errors.New("a combination needs at least one track")
	}
	if len(tracks) > MaxTracks {
		return nil, fmt.Errorf("%d tracks in a combination, at most %d", len(tracks), MaxTracks)
	}
	data := make([]byte, 0, 2*len(tracks))
	for _, t := range tracks {
		if t < 1 || t > 99 {
			return nil, fmt.Errorf("combination track %d out of range 1..99 (files /ZH/01.mp3../ZH/99.mp3)", t)
		}
		data = append(data, '0'+byte(t/10), '0'+byte(t%10))
	}
	return mp3Frame(mp3Combination, data...), nil
}

// StopFrame stops an MP3 module: AA 04 on the DY family, AA 10 ("end
// playback") on the JQ8400, whose 04 does not stop every firmware.
func StopFrame(p Protocol) []byte {
	if p == JQ8400 {
		return mp3Frame(mp3EndPlay)
	}
	return mp3Frame(mp3Stop)
}

// QueryFrame asks an MP3 module for its play state (AA 01 00 AB).
func QueryFrame() []byte { return mp3Frame(mp3Query) }

// ParseTracks reads "1,5,9" (spaces allowed).
func ParseTracks(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("tracks %q: %q is not a number", s, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tracks %q: no track numbers", s)
	}
	return out, nil
}

// ParseTrack reads one track number.
func ParseTrack(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("track %q is not a number", s)
	}
	return n, nil
}

// TTS frames (SYN6288 and XFS5152CE datasheets): FD, the data area's
// length (big-endian, two bytes), then the data area: command 01
// (synthesise), a parameter byte whose low bits say the text encoding (01:
// GBK, which covers GB2312), and the text. The SYN6288 ends the frame with
// the XOR of every byte before it, counted in the length; the XFS5152CE
// has no check byte.
const (
	ttsStart      = 0xFD
	ttsSynthesise = 0x01
	ttsStop       = 0x02
	ttsQuery      = 0x21
	ttsEncGBK     = 0x01
)

// The status bytes a TTS module sends.
const (
	StatusReceived = 0x41 // a frame was received and understood
	StatusError    = 0x45 // a frame was received and refused
	StatusInit     = 0x4A // XFS5152CE: initialised (after power-up)
	StatusBusy     = 0x4E // answer to a query: synthesising
	StatusIdle     = 0x4F // answer to a query, and sent after a synthesis ends: idle
)

// StatusName names a status byte for messages.
func StatusName(b byte) string {
	switch b {
	case StatusReceived:
		return "0x41 received"
	case StatusError:
		return "0x45 error"
	case StatusInit:
		return "0x4A initialised"
	case StatusBusy:
		return "0x4E busy"
	case StatusIdle:
		return "0x4F idle"
	}
	return fmt.Sprintf("0x%02X (not a status byte)", b)
}

func ttsFrame(p Protocol, cmd byte, param []byte, text []byte) []byte {
	n := 1 + len(param) + len(text) // the data area
	if p == SYN6288 {
		n++ // its check byte
	}
	f := make([]byte, 0, 3+n)
	f = append(f, ttsStart, byte(n>>8), byte(n), cmd)
	f = append(f, param...)
	f = append(f, text...)
	if p == SYN6288 {
		var x byte
		for _, c := range f {
			x ^= c
		}
		f = append(f, x)
	}
	return f
}

// SynthFrame is one synthesis frame for GBK text already cut to the
// module's limit.
func SynthFrame(p Protocol, gbk []byte) []byte {
	return ttsFrame(p, ttsSynthesise, []byte{ttsEncGBK}, gbk)
}

// TTSStopFrame stops the synthesis under way.
func TTSStopFrame(p Protocol) []byte { return ttsFrame(p, ttsStop, nil, nil) }

// TTSQueryFrame asks a TTS module whether it is busy (0x4E) or idle (0x4F).
func TTSQueryFrame(p Protocol) []byte { return ttsFrame(p, ttsQuery, nil, nil) }

// VolumeMark is the text mark that sets a TTS module's volume: [v8].
func VolumeMark(v int) string { return "[v" + strconv.Itoa(v) + "]" }

// EncodeGBK encodes text to GBK (GB2312 is its subset) one character at
// a time, so that the result can be cut between characters. A character
// GBK does not have (an emoji) becomes a space and is counted.
func EncodeGBK(text string) (chars [][]byte, replaced int) {
	enc := simplifiedchinese.GBK.NewEncoder()
	chars = make([][]byte, 0, utf8.RuneCountInString(text))
	for _, r := range text {
		if r == utf8.RuneError {
			chars = append(chars, []byte{' '})
			replaced++
			continue
		}
		b, err := enc.Bytes([]byte(string(r)))
		if err != nil || len(b) == 0 {
			chars = append(chars, []byte{' '})
			replaced++
			continue
		}
		chars = append(chars, b)
	}
	return chars, replaced
}

// breakAfter are the characters a long text is preferably cut after, so
// that the module pauses where a reader would.
func breakAfter(c []byte) bool {
	if len(c) == 1 {
		switch c[0] {
		case ',', '.', '!', '?', ';', ':', ' ', '\n':
			return true
		}
		return false
	}
	// GBK of ，。！？；：、
	switch string(c) {
	case "\xa3\xac", "\xa1\xa3", "\xa3\xa1", "\xa3\xbf", "\xa3\xbb", "\xa3\xba", "\xa1\xa2":
		return true
	}
	return false
}

// SplitText encodes text to GBK and cuts it into pieces of at most limit
// bytes each, prefix (a volume mark) included, between characters and,
// where one is near, after punctuation. Empty text gives no pieces.
func SplitText(text, prefix string, limit int) (pieces [][]byte, replaced int, err error) {
	chars, replaced := EncodeGBK(text)
	room := limit - len(prefix)
	if room < 2 {
		return nil, replaced, fmt.Errorf("text limit %d leaves no room for text after %q", limit, prefix)
	}
	var cur []byte
	lastBreak := -1 // length of cur just after its last punctuation
	flush := func(n int) {
		p := make([]byte, 0, len(prefix)+n)
		p = append(p, prefix...)
		p = append(p, cur[:n]...)
		pieces = append(pieces, p)
		cur = append(cur[:0], cur[n:]...)
		lastBreak = -1
	}
	for _, c := range chars {
		if len(cur)+len(c) > room {
			if lastBreak > room/2 {
				flush(lastBreak)
			} else {
				flush(len(cur))
			}
		}
		cur = append(cur, c...)
		if breakAfter(c) {
			lastBreak = len(cur)
		}
	}
	if len(strings.TrimSpace(string(cur))) > 0 {
		flush(len(cur))
	}
	return pieces, replaced, nil
}
