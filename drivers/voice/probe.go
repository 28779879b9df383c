package voice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

// ProbeOptions is what `edgegw probe voice` sends.
type ProbeOptions struct {
	Port     serial.Port
	Protocol string
	// One of Play (a track), Tracks ("1,5,9"), Say (text), Stop, Query;
	// Volume alone sets an MP3 module's volume, and goes before Play or
	// Tracks, or into Say's text as a [vN] mark.
	Play   int
	Tracks string
	Say    string
	Volume *int
	Stop   bool
	Query  bool
	// Timeout bounds the wait for each answer. Default: 2s.
	Timeout time.Duration
	// Wait bounds the wait for a TTS module to finish one part of a long
	// text before the next is sent. Default: 60s.
	Wait time.Duration
	// Clock times the waits. Default: edge.SystemClock.
	Clock edge.Clock
	// Lang is the language of the lines printed. Default: English.
	Lang i18n.Lang
}

// Check validates the options (a usage error when it fails) and returns
// the frames the probe would send.
func (po *ProbeOptions) Check() (Protocol, [][]byte, error) {
	if strings.TrimSpace(po.Port.Port) == "" {
		return "", nil, errors.New("--port is required")
	}
	if _, err := po.Port.Mode(); err != nil {
		return "", nil, err
	}
	p, err := ParseProtocol(po.Protocol)
	if err != nil {
		return "", nil, fmt.Errorf("--protocol: %v", err)
	}
	n := 0
	for _, set := range []bool{po.Play != 0, po.Tracks != "", po.Say != "", po.Stop, po.Query} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", nil, errors.New("give one of --play, --tracks, --say, --stop, --query")
	}
	if n == 0 && po.Volume == nil {
		return "", nil, errors.New("nothing to send: give --play N, --tracks 1,5,9, --say TEXT, --volume V, --stop or --query")
	}
	if po.Volume != nil && (*po.Volume < 0 || *po.Volume > p.MaxVolume()) {
		return "", nil, fmt.Errorf("--volume %d out of range 0..%d for %s", *po.Volume, p.MaxVolume(), p)
	}
	var frames [][]byte
	switch {
	case po.Stop && p.TTS():
		frames = append(frames, TTSStopFrame(p))
	case po.Stop:
		frames = append(frames, StopFrame(p))
	case po.Query && p.TTS():
		frames = append(frames, TTSQueryFrame(p))
	case po.Query:
		frames = append(frames, QueryFrame())
	case p.TTS():
		if po.Play != 0 || po.Tracks != "" {
			return "", nil, fmt.Errorf("a %s module says text: use --say", p)
		}
		if po.Say == "" {
			return "", nil, fmt.Errorf("a %s module sets its volume inside the text: use --say TEXT with --volume", p)
		}
		mark := ""
		if po.Volume != nil {
			mark = VolumeMark(*po.Volume)
		}
		pieces, _, err := SplitText(po.Say, mark, p.TextLimit())
		if err != nil {
			return "", nil, err
		}
		if len(pieces) == 0 {
			return "", nil, errors.New("--say: no text")
		}
		for _, t := range pieces {
			frames = append(frames, SynthFrame(p, t))
		}
	default:
		if po.Say != "" {
			return "", nil, fmt.Errorf("a %s module plays tracks and cannot say text: use --play or --tracks", p)
		}
		if po.Volume != nil {
			f, _ := VolumeFrame(*po.Volume)
			frames = append(frames, f)
		}
		switch {
		case po.Tracks != "":
			ts, err := ParseTracks(po.Tracks)
			if err != nil {
				return "", nil, fmt.Errorf("--tracks: %v", err)
			}
			f, err := CombinationFrame(ts)
			if err != nil {
				return "", nil, fmt.Errorf("--tracks: %v", err)
			}
			frames = append(frames, f)
		case po.Play != 0:
			f, err := PlayTrackFrame(po.Play)
			if err != nil {
				return "", nil, fmt.Errorf("--play: %v", err)
			}
			frames = append(frames, f)
		}
	}
	return p, frames, nil
}

// Probe opens the port, sends exactly the frames Check returns (nothing
// else), prints each in hex with what the module answered, and returns
// nil when the module took them: an MP3 module's frames were written and
// drained (it never answers a control command), a TTS module answered
// 0x41 to each. A port another program holds is refused at once with an
// error wrapping edge.ErrPortInUse.
func Probe(ctx context.Context, po ProbeOptions, w io.Writer) error {
	p, frames, err := po.Check()
	if err != nil {
		return err
	}
	if po.Timeout <= 0 {
		po.Timeout = 2 * time.Second
	}
	if po.Wait <= 0 {
		po.Wait = DefaultBusy
	}
	if po.Clock == nil {
		po.Clock = edge.SystemClock{}
	}
	mode, _ := po.Port.Mode()
	port, err := (&serialport.Opener{Clock: po.Clock}).Open(po.Port.Port, mode)
	if err != nil {
		return fmt.Errorf("open %s: %w", po.Port.Port, err)
	}
	l := newLink(port, p, po.Clock, nil)
	defer l.close()
	i18n.Fprintf(w, po.Lang, "%s on %s at %d baud\n", p, po.Port.Port, mode.BaudRate)
	sp := speaker{answer: po.Timeout, busy: po.Wait, poll: DefaultPoll}
	for i, f := range frames {
		i18n.Fprintf(w, po.Lang, "sent %s\n", hexBytes(f))
		switch {
		case po.Query && p.TTS():
			st := l.snapshot()
			b0, i0 := st.busy, st.idle
			if err := l.write(f); err != nil {
				return fmt.Errorf("write to %s: %w", po.Port.Port, err)
			}
			idx, err := l.waitFor(ctx, func(s *ttsStatus) bool { return s.busy > b0 || s.idle > i0 }, po.Clock.After(po.Timeout))
			if err != nil {
				return fmt.Errorf("%s: %w", po.Port.Port, err)
			}
			if idx == 0 {
				return i18n.Errorf(po.Lang, "%s module on %s: %w to the status query within %v: check TX to RX, RX to TX, GND, and the baud rate",
					p, po.Port.Port, ErrNoAnswer, po.Timeout)
			}
			if l.snapshot().idle > i0 {
				fmt.Fprintf(w, "module: %s\n", StatusName(StatusIdle))
			} else {
				fmt.Fprintf(w, "module: %s\n", StatusName(StatusBusy))
			}
		case po.Query:
			st, err := queryMP3(ctx, l, po.Timeout)
			if err != nil {
				return fmt.Errorf("%s module on %s: %w", p, po.Port.Port, err)
			}
			fmt.Fprintf(w, "module: %s\n", PlayState(st))
		case p.TTS():
			if i > 0 {
				if err := sp.waitIdle(ctx, l, true); err != nil {
					return fmt.Errorf("%s module on %s: part %d of %d: %w", p, po.Port.Port, i+1, len(frames), err)
				}
			}
			if err := sp.send(ctx, l, f, !po.Stop); err != nil {
				return fmt.Errorf("%s module on %s: %w", p, po.Port.Port, err)
			}
			fmt.Fprintf(w, "module: %s\n", StatusName(StatusReceived))
		default:
			if i > 0 {
				if err := edge.Sleep(ctx, po.Clock, DefaultGap); err != nil {
					return err
				}
			}
			if err := l.write(f); err != nil {
				return fmt.Errorf("write to %s: %w", po.Port.Port, err)
			}
		}
	}
	if !p.TTS() && !po.Query {
		i18n.Fprintln(w, po.Lang, "written (MP3 modules do not answer control commands: listen to the speaker)")
	}
	return nil
}

func hexBytes(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02X", c)
	}
	return s.String()
}
