// Package voice drives the serial voice broadcast modules of a compound
// (语音喊话): the MP3 track modules (DY-SV17F, DY-SV5W, JQ8400) and the
// Chinese text-to-speech modules (SYN6288, XFS5152CE), with a volume per
// output, quiet hours and a rate limit.
package voice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// Name is the output driver's name in the config.
const Name = "voice"

func init() { edge.RegisterOutput(Name, NewOutput) }

// Output is one voice module on one serial port. It keeps the port open
// between plays (opening a port pulses DTR, which resets some modules) and
// reopens it after a failure; Run (edge.Runner) claims it at start.
type Output struct {
	name     string
	log      *slog.Logger
	clock    edge.Clock
	throttle *edge.LogThrottle
	cfg      *settings
	port     string
	mode     *bugserial.Mode
	open     func(string, *bugserial.Mode) (bugserial.Port, error)

	sem  chan struct{} // one conversation with the module at a time
	link *link         // held with sem
	lost chan struct{} // a failure closed the port: Run reopens it

	mu      sync.Mutex
	plays   []time.Time // start times of the plays in the rate window
	stats   edge.DeviceStats
	limited uint64
	muted   uint64
}

// ActionTimeout lets the action runner wait as long as a TTS module may
// take: the wait for it to finish what it says (busy_timeout) and the
// answers to the frames of a long text, so a second message waits rather
// than failing after the runner's default 10 s.
func (o *Output) ActionTimeout() time.Duration {
	return o.cfg.busy + 8*o.cfg.answer + 5*time.Second
}

// NewOutput is the "voice" output driver's factory.
func NewOutput(env edge.Env, opts edge.Options) (edge.Output, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return New(env, o, opts.Errorf)
}

// New builds the output from decoded options; ef names a field in errors
// (edge.Options.Errorf; nil: plain "field: message").
func New(env edge.Env, o Options, ef func(field, format string, args ...any) error) (*Output, error) {
	c, err := o.compile(ef)
	if err != nil {
		return nil, err
	}
	mode, err := o.Port.Mode()
	if err != nil {
		return nil, err
	}
	out := &Output{name: env.Name, cfg: c, port: o.Port.Port, mode: mode,
		sem: make(chan struct{}, 1), lost: make(chan struct{}, 1)}
	out.log = env.Logger
	if out.log == nil {
		out.log = edge.DiscardLogger()
	}
	out.clock = env.Clock
	if out.clock == nil {
		out.clock = edge.SystemClock{}
	}
	out.throttle = &edge.LogThrottle{Log: out.log, Clock: out.clock}
	out.open = (&serialport.Opener{Log: out.log, Clock: out.clock}).Open
	out.stats.Device = env.Name
	return out, nil
}

// Protocol returns the module family.
func (o *Output) Protocol() Protocol { return o.cfg.proto }

// play is what one op asks of the module.
type play struct {
	stop   bool
	track  int
	tracks []int
	text   string
	what   string // for messages: `track 3`, `tracks 1,5,9`, `"text"`
}

// plan turns an op into a play, or says why it cannot.
func (o *Output) plan(op edge.Op) (play, error) {
	p := o.cfg.proto
	switch op.Kind {
	case edge.OpSet:
		if op.On {
			return play{}, fmt.Errorf("output %q: %w: set on (a voice module can be set off, which stops it)", o.name, edge.ErrUnsupported)
		}
		return play{stop: true, what: "stop"}, nil
	case edge.OpSend:
	default:
		return play{}, fmt.Errorf("output %q: %w: %s", o.name, edge.ErrUnsupported, op.Kind)
	}
	tracks, track := strings.TrimSpace(op.Vars["tracks"]), strings.TrimSpace(op.Vars["track"])
	if p.TTS() {
		if tracks != "" || track != "" {
			return play{}, fmt.Errorf("output %q: a %s module says text and has no tracks: remove track/tracks from the action's vars", o.name, p)
		}
		text, err := o.render(op)
		if err != nil {
			return play{}, err
		}
		if strings.TrimSpace(text) == "" {
			return play{}, fmt.Errorf("output %q: the say template rendered no text", o.name)
		}
		return play{text: text, what: fmt.Sprintf("%q", text)}, nil
	}
	switch {
	case tracks != "":
		ts, err := ParseTracks(tracks)
		if err != nil {
			return play{}, fmt.Errorf("output %q: %w", o.name, err)
		}
		if _, err := CombinationFrame(ts); err != nil {
			return play{}, fmt.Errorf("output %q: %w", o.name, err)
		}
		return play{tracks: ts, what: "tracks " + tracks}, nil
	case track != "":
		n, err := ParseTrack(track)
		if err == nil {
			_, err = PlayTrackFrame(n)
		}
		if err != nil {
			return play{}, fmt.Errorf("output %q: %w", o.name, err)
		}
		return play{track: n, what: "track " + track}, nil
	}
	return play{}, fmt.Errorf("output %q: the op names no track: a %s module plays tracks, give the action vars: {track: \"3\"} or {tracks: \"1,5,9\"}", o.name, p)
}

// render runs the say template over the op.
func (o *Output) render(op edge.Op) (string, error) {
	now := o.clock.Now().In(o.cfg.loc)
	data := map[string]string{"device": "", "location": "", "message": "", "rule": "", "severity": "",
		"text": op.Text, "time": now.Format("15:04"), "date": now.Format("2006-01-02"), "output": o.name}
	for k, v := range op.Vars {
		data[k] = v
	}
	if data["message"] == "" {
		data["message"] = op.Text
	}
	for _, k := range o.cfg.vars {
		if _, ok := op.Vars[k]; !ok {
			return "", fmt.Errorf("output %q: the op has no var %q, which the say template uses: give it in the action's vars", o.name, k)
		}
	}
	var b bytes.Buffer
	if err := o.cfg.say.Execute(&limitWriter{w: &b, n: maxRenderedTextSize}, data); err != nil {
		return "", fmt.Errorf("output %q: say template: %s", o.name, templateErr(err))
	}
	return b.String(), nil
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("rendered text longer than %d bytes", l.n)
	}
	return l.w.Write(p)
}

// Apply plays what op asks: OpSend with vars track ("3") or tracks
// ("1,5,9") on an MP3 module, the say template on a TTS module; OpSet off
// stops the module. It returns once the module has the command: an MP3
// module's frames are written and drained (it never answers); a TTS
// module answered 0x41 to every part of the text, each part sent only
// once the module was idle, so that a second message never cuts the first.
// Quiet hours lower the volume or refuse the play (ErrQuietHours); a play
// over the rate limit is refused (ErrRateLimited); both are counted.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	p, err := o.plan(op)
	if err != nil {
		return o.fail("op", err)
	}
	return o.run(ctx, p)
}

// Test plays the test track (MP3) or says the test text (TTS) at the
// configured volume, through the quiet hours and the rate limit like any
// play (actions.Tester: `edgegw output test`, the status page's button).
func (o *Output) Test(ctx context.Context) error {
	p := play{track: o.cfg.testTrack, what: fmt.Sprintf("test track %d", o.cfg.testTrack)}
	if o.cfg.proto.TTS() {
		p = play{text: o.cfg.testText, what: fmt.Sprintf("test text %q", o.cfg.testText)}
	}
	return o.run(ctx, p)
}

func (o *Output) run(ctx context.Context, p play) error {
	vol := o.cfg.volume
	if !p.stop {
		now := o.clock.Now()
		if q := o.cfg.quiet; q.active(now.In(o.cfg.loc)) {
			if q.mute {
				o.mu.Lock()
				o.muted++
				o.mu.Unlock()
				return o.fail("quiet_hours", fmt.Errorf("output %q: %s not played: %w (%s)", o.name, p.what, ErrQuietHours, q.text))
			}
			vol = q.volume
		}
		if err := o.allow(now); err != nil {
			return o.fail("rate_limited", fmt.Errorf("output %q: %s not played: %w", o.name, p.what, err))
		}
	}
	frames, err := o.frames(p, vol)
	if err != nil {
		return o.fail("op", fmt.Errorf("output %q: %w", o.name, err))
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return o.fail("timeout", fmt.Errorf("output %q: %s: module busy with an earlier play: %w", o.name, p.what, ctx.Err()))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-o.sem }()
		done <- o.converse(ctx, p, frames)
	}()
	select {
	case err := <-done:
		if err != nil {
			return o.fail(cause(err), fmt.Errorf("output %q: %s on %s: %w", o.name, p.what, o.port, err))
		}
		o.mu.Lock()
		o.stats.Frames++
		o.mu.Unlock()
		return nil
	case <-ctx.Done():
		return o.fail("timeout", fmt.Errorf("output %q: %s on %s: %w", o.name, p.what, o.port, ctx.Err()))
	}
}

// frames builds the frames of a play at volume vol.
func (o *Output) frames(p play, vol int) ([][]byte, error) {
	proto := o.cfg.proto
	if p.stop {
		if proto.TTS() {
			return [][]byte{TTSStopFrame(proto)}, nil
		}
		return [][]byte{StopFrame(proto)}, nil
	}
	if proto.TTS() {
		pieces, replaced, err := SplitText(p.text, VolumeMark(vol), o.cfg.textLimit)
		if err != nil {
			return nil, err
		}
		if replaced > 0 {
			o.throttle.Warn("gbk", "voice text has characters GBK lacks; they are left out", "replaced", replaced)
		}
		if len(pieces) == 0 {
			return nil, errors.New("nothing to say")
		}
		fs := make([][]byte, len(pieces))
		for i, t := range pieces {
			fs[i] = SynthFrame(proto, t)
		}
		return fs, nil
	}
	v, err := VolumeFrame(vol)
	if err != nil {
		return nil, err
	}
	var f []byte
	if p.tracks != nil {
		f, err = CombinationFrame(p.tracks)
	} else {
		f, err = PlayTrackFrame(p.track)
	}
	if err != nil {
		return nil, err
	}
	return [][]byte{v, f}, nil
}

// converse runs holding sem: it (re)opens the port and sends the frames.
// An MP3 play whose write fails is tried once more on a reopened port (a
// port that vanished and came back fails its first write); a TTS play is
// not, as the module may have taken part of it.
func (o *Output) converse(ctx context.Context, p play, frames [][]byte) error {
	for attempt := 0; ; attempt++ {
		l, err := o.claimLocked()
		if err != nil {
			return err
		}
		if o.cfg.proto.TTS() {
			sp := speaker{answer: o.cfg.answer, busy: o.cfg.busy, poll: o.cfg.poll, query: true}
			if p.stop {
				err = sp.send(ctx, l, frames[0], false)
			} else {
				err = sp.say(ctx, l, frames)
			}
			if err != nil && l.dead() != nil {
				o.dropLocked()
			}
			return err
		}
		err = o.writeMP3(ctx, l, frames)
		if err == nil || ctx.Err() != nil {
			return err
		}
		o.dropLocked()
		if attempt > 0 {
			return err
		}
		o.mu.Lock()
		o.stats.Reconnects++
		o.mu.Unlock()
	}
}

func (o *Output) writeMP3(ctx context.Context, l *link, frames [][]byte) error {
	for i, f := range frames {
		if i > 0 && o.cfg.gap > 0 {
			if err := edge.Sleep(ctx, o.clock, o.cfg.gap); err != nil {
				return err
			}
		}
		if err := l.write(f); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// claimLocked returns the open link, opening the port if needed; sem is
// held.
func (o *Output) claimLocked() (*link, error) {
	if o.link != nil && o.link.dead() != nil {
		o.dropLocked()
	}
	if o.link != nil {
		return o.link, nil
	}
	port, err := o.open(o.port, o.mode)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.port, err)
	}
	o.link = newLink(port, o.cfg.proto, o.clock, o.garbage)
	return o.link, nil
}

// garbage counts bytes from the module that are none of its answers.
func (o *Output) garbage(n uint64) {
	o.mu.Lock()
	o.stats.Garbage += n
	o.mu.Unlock()
	o.throttle.Warn("garbage", "voice module sent bytes that are none of its answers: wrong baud rate or protocol?",
		"port", o.port, "bytes", n)
}

// dropLocked closes the port after a failure and tells Run; sem is held.
func (o *Output) dropLocked() {
	if o.link == nil {
		return
	}
	o.link.close()
	o.link = nil
	select {
	case o.lost <- struct{}{}:
	default:
	}
}

// allow applies the sliding-window rate limit and counts the play.
func (o *Output) allow(now time.Time) error {
	n, per := o.cfg.rateN, o.cfg.ratePer
	if n <= 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// Keep the plays inside (now-per, now]; one "after now" is from
	// before a clock jump backwards and would hold the limit shut.
	kept := o.plays[:0]
	for _, t := range o.plays {
		if t.After(now.Add(-per)) && !t.After(now) {
			kept = append(kept, t)
		}
	}
	o.plays = kept
	if len(o.plays) >= n {
		o.limited++
		next := o.plays[0].Add(per)
		return fmt.Errorf("%w: %d plays in %v already; the next is allowed at %s", ErrRateLimited, n, per,
			next.In(o.cfg.loc).Format("15:04:05"))
	}
	o.plays = append(o.plays, now)
	return nil
}

// cause classifies a conversation's error for the status page.
func cause(err error) string {
	switch {
	case errors.Is(err, edge.ErrPortInUse):
		return "port_in_use"
	case errors.Is(err, ErrNoAnswer):
		return "no_answer"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return "port"
}

func (o *Output) fail(cause string, err error) error {
	o.mu.Lock()
	o.stats.Errors++
	o.stats.LastError = err.Error()
	if o.stats.ErrorsByCause == nil {
		o.stats.ErrorsByCause = map[string]uint64{}
	}
	o.stats.ErrorsByCause[cause]++
	o.mu.Unlock()
	o.throttle.Warn(cause, "voice output failed", "err", err)
	return err
}

// Run claims the port at once and keeps it until ctx ends: it reopens it,
// with backoff, when it cannot be opened (unplugged, held by another
// program) or a play failed on it. Plays open it themselves too, so an
// output whose Run is not running still works.
func (o *Output) Run(ctx context.Context) error {
	b := edge.Backoff{Min: time.Second, Max: 30 * time.Second, Clock: o.clock}
	for {
		err := o.claim(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.throttle.Warn("open", "voice output port unavailable", "port", o.port, "err", err)
			if b.Wait(ctx) != nil {
				return nil
			}
			continue
		}
		b.Reset()
		select {
		case <-ctx.Done():
			return nil
		case <-o.lost:
		}
	}
}

func (o *Output) claim(ctx context.Context) error {
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-o.sem }()
	had := o.link != nil
	_, err := o.claimLocked()
	if err == nil && !had {
		o.log.Debug("voice output port open", "port", o.port, "protocol", string(o.cfg.proto))
	}
	return err
}

// Stats reports plays (Frames), failures by cause and reopens.
func (o *Output) Stats() []edge.DeviceStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	if s.ErrorsByCause != nil {
		s.ErrorsByCause = make(map[string]uint64, len(o.stats.ErrorsByCause))
		for k, v := range o.stats.ErrorsByCause {
			s.ErrorsByCause[k] = v
		}
	}
	return []edge.DeviceStats{s}
}

// Refused returns how many plays the rate limit and the muted quiet hours
// refused.
func (o *Output) Refused() (rateLimited, quiet uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.limited, o.muted
}

// Close closes the port, waiting at most a second for a play in progress.
func (o *Output) Close() error {
	select {
	case o.sem <- struct{}{}:
		defer func() { <-o.sem }()
	case <-o.clock.After(time.Second):
		return fmt.Errorf("output %q: a play is still in progress", o.name)
	}
	if o.link != nil {
		err := o.link.close()
		o.link = nil
		return err
	}
	return nil
}

var (
	_ edge.Output        = (*Output)(nil)
	_ edge.Runner        = (*Output)(nil)
	_ edge.Closer        = (*Output)(nil)
	_ edge.StatsReporter = (*Output)(nil)
)
