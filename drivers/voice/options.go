package voice

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/edge"
)

// Options is the "voice" output driver's part of the config.
type Options struct {
	// Port, baud (default 9600, what every one of these modules ships
	// with), data_bits, parity, stop_bits: as the serial driver's.
	serial.Port `yaml:",inline"`
	// Protocol is the module family: dy (DY-SV17F, DY-SV5W), jq8400,
	// syn6288 or xfs5152 (XFS5152CE). Required.
	Protocol string `yaml:"protocol"`
	// Volume is set before each play: 0..30 on the MP3 modules, 0..16 on
	// the SYN6288, 0..10 on the XFS5152CE. Default: 20, 10 and 7.
	Volume *int `yaml:"volume"`
	// Say is the text a TTS module says for an op without track: a Go
	// template over the op's vars: .device, .location, .message, .rule,
	// .severity, .text (the action's text), .time (15:04), .date
	// (2006-01-02), .output, and the names in Vars. A name it does not know
	// is refused at load. Default: "{{.text}}". Only for syn6288 and xfs5152.
	Say string `yaml:"say"`
	// Vars are further names the rules pass in their actions' vars
	// ({station: "3"}) that Say may use; an op without one of them is
	// refused, naming the output. Default: none.
	Vars []string `yaml:"vars"`
	// TestTrack is what Test plays on an MP3 module. Default: 1.
	TestTrack int `yaml:"test_track"`
	// TestText is what Test says on a TTS module. Default: "语音播报测试"
	// ("voice broadcast test").
	TestText string `yaml:"test_text"`
	// QuietHours lowers or mutes the module at night. Default: none.
	QuietHours *QuietHours `yaml:"quiet_hours"`
	// RateLimit caps the plays of this output, so that one stuck sensor
	// cannot shout all night; a play over it is refused with an error and
	// counted. Default: 10 per 10m; {n: 0} switches it off.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Timezone is the IANA zone of the quiet hours and of .time.
	// Default: the box's local zone.
	Timezone string `yaml:"timezone"`
	// TextLimit is the most text bytes per synthesis frame; longer texts
	// are cut between characters, after punctuation where one is near.
	// Default and maximum: the module's (syn6288 200, xfs5152 4000).
	TextLimit int `yaml:"text_limit"`
	// AnswerTimeout bounds the wait for a TTS module's answer to a frame.
	// Default: 1s.
	AnswerTimeout edge.Duration `yaml:"answer_timeout"`
	// BusyTimeout bounds the wait for a TTS module to finish what it is
	// saying before the next text (also bounded by the action's timeout).
	// Default: 60s.
	BusyTimeout edge.Duration `yaml:"busy_timeout"`
	// PollInterval is how often a busy TTS module is asked whether it is
	// idle yet, in case its own idle byte was lost. Default: 1s.
	PollInterval edge.Duration `yaml:"poll_interval"`
	// CommandGap is the pause between two frames of one play (volume,
	// then track) on an MP3 module. Default: 30ms.
	CommandGap *edge.Duration `yaml:"command_gap"`
}

// QuietHours is a schedule during which the module plays softer or not at
// all, because loudspeakers in residential compounds draw complaints.
type QuietHours struct {
	// Windows are local times "22:00-07:00" (across midnight allowed).
	// Required.
	Windows []string `yaml:"windows"`
	// Volume is the volume inside the windows. Default: a third of the
	// module's scale (10 on an MP3 module).
	Volume *int `yaml:"volume"`
	// Mute refuses every play inside the windows (counted, with an error
	// that says so) instead of playing softer. Default: false.
	Mute bool `yaml:"mute"`
}

// RateLimit allows N plays per window.
type RateLimit struct {
	// N plays are allowed per Per; 0 switches the limit off.
	N int `yaml:"n"`
	// Per is the sliding window. Required when N > 0.
	Per edge.Duration `yaml:"per"`
}

// Defaults of the options.
const (
	DefaultRateN        = 10
	DefaultRatePer      = 10 * time.Minute
	DefaultAnswer       = time.Second
	DefaultBusy         = 60 * time.Second
	DefaultPoll         = time.Second
	DefaultGap          = 30 * time.Millisecond
	DefaultTestText     = "语音播报测试"
	defaultSayTemplate  = "{{.text}}"
	maxTemplateBytes    = 4096
	maxVars             = 32
	maxQuietWindows     = 8
	maxRenderedTextSize = 16 << 10 // bytes of rendered text, before encoding
)

// defaultVolume is the volume when none is configured.
func defaultVolume(p Protocol) int {
	switch p {
	case SYN6288:
		return 10
	case XFS5152:
		return 7
	}
	return 20
}

// stdKeys are the names every op's template data has.
var stdKeys = []string{"date", "device", "location", "message", "output", "rule", "severity", "text", "time"}

// settings is the validated, compiled form of Options.
type settings struct {
	proto        Protocol
	volume       int
	say          *template.Template
	vars         []string
	testTrack    int
	testText     string
	quiet        *quietSchedule
	rateN        int
	ratePer      time.Duration
	loc          *time.Location
	textLimit    int
	answer, busy time.Duration
	poll, gap    time.Duration
}

type errorf func(field, format string, args ...any) error

func plainErrorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// compile validates o (every field it can, before any port is opened) and
// fills the defaults.
func (o *Options) compile(ef errorf) (*settings, error) {
	if ef == nil {
		ef = plainErrorf
	}
	if strings.TrimSpace(o.Port.Port) == "" {
		return nil, ef("port", "required: the serial device, such as /dev/ttyUSB0 or COM3 (see `edgegw ports`)")
	}
	if o.Baud == 0 {
		o.Baud = 9600
	}
	if o.Baud < 50 || o.Baud > 4000000 {
		return nil, ef("baud", "%d out of range 50..4000000", o.Baud)
	}
	if _, err := o.Port.Mode(); err != nil {
		return nil, ef("port", "%v", err)
	}
	p, err := ParseProtocol(o.Protocol)
	if err != nil {
		return nil, ef("protocol", "%v", err)
	}
	c := &settings{proto: p, volume: defaultVolume(p), testTrack: 1, testText: DefaultTestText,
		rateN: DefaultRateN, ratePer: DefaultRatePer, loc: time.Local, textLimit: p.TextLimit(),
		answer: DefaultAnswer, busy: DefaultBusy, poll: DefaultPoll, gap: DefaultGap}
	if o.Volume != nil {
		if *o.Volume < 0 || *o.Volume > p.MaxVolume() {
			return nil, ef("volume", "%d out of range 0..%d for %s", *o.Volume, p.MaxVolume(), p)
		}
		c.volume = *o.Volume
	}
	if o.Timezone != "" {
		if c.loc, err = time.LoadLocation(o.Timezone); err != nil {
			return nil, ef("timezone", "unknown zone %q: %v", o.Timezone, err)
		}
	}
	if len(o.Vars) > maxVars {
		return nil, ef("vars", "%d names, at most %d", len(o.Vars), maxVars)
	}
	for i, v := range o.Vars {
		if !validName(v) {
			return nil, ef(fmt.Sprintf("vars[%d]", i), "%q is not a name (letters, digits, _)", v)
		}
	}
	c.vars = append([]string(nil), o.Vars...)
	if p.TTS() {
		src := o.Say
		if src == "" {
			src = defaultSayTemplate
		}
		if c.say, err = compileSay(src, c.vars); err != nil {
			return nil, ef("say", "%v", err)
		}
		if o.TestText != "" {
			c.testText = o.TestText
		}
		if o.TestTrack != 0 {
			return nil, ef("test_track", "a %s module says text: set test_text", p)
		}
		if o.TextLimit != 0 {
			if o.TextLimit < 16 || o.TextLimit > p.TextLimit() {
				return nil, ef("text_limit", "%d out of range 16..%d for %s", o.TextLimit, p.TextLimit(), p)
			}
			c.textLimit = o.TextLimit
		}
	} else {
		for _, f := range []struct {
			name string
			set  bool
		}{{"say", o.Say != ""}, {"test_text", o.TestText != ""}, {"text_limit", o.TextLimit != 0}} {
			if f.set {
				return nil, ef(f.name, "a %s module plays tracks and cannot say text; use a syn6288 or xfs5152 module", p)
			}
		}
		if o.TestTrack != 0 {
			if o.TestTrack < 1 || o.TestTrack > 65535 {
				return nil, ef("test_track", "%d out of range 1..65535", o.TestTrack)
			}
			c.testTrack = o.TestTrack
		}
	}
	for _, d := range []struct {
		field string
		v     edge.Duration
		dst   *time.Duration
	}{{"answer_timeout", o.AnswerTimeout, &c.answer}, {"busy_timeout", o.BusyTimeout, &c.busy},
		{"poll_interval", o.PollInterval, &c.poll}} {
		if d.v < 0 {
			return nil, ef(d.field, "must not be negative")
		}
		if d.v > 0 {
			*d.dst = d.v.D()
		}
	}
	if o.CommandGap != nil {
		if *o.CommandGap < 0 || o.CommandGap.D() > time.Second {
			return nil, ef("command_gap", "%v out of range 0..1s", o.CommandGap.D())
		}
		c.gap = o.CommandGap.D()
	}
	if q := o.QuietHours; q != nil {
		if c.quiet, err = compileQuiet(q, p, ef); err != nil {
			return nil, err
		}
	}
	if r := o.RateLimit; r != nil {
		switch {
		case r.N < 0:
			return nil, ef("rate_limit.n", "must not be negative")
		case r.N > 10000:
			return nil, ef("rate_limit.n", "%d out of range 0..10000", r.N)
		case r.N > 0 && r.Per <= 0:
			return nil, ef("rate_limit.per", "required with n: the window, such as 10m")
		}
		c.rateN, c.ratePer = r.N, r.Per.D()
	}
	return c, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// compileSay parses the say template strictly and runs it once on sample
// data holding every name an op may carry, so that a misspelt name fails
// at load, not at the first alarm.
func compileSay(src string, vars []string) (*template.Template, error) {
	if len(src) > maxTemplateBytes {
		return nil, fmt.Errorf("template of %d bytes, at most %d", len(src), maxTemplateBytes)
	}
	t, err := template.New("say").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("bad template: %v", err)
	}
	sample := map[string]string{}
	for _, k := range stdKeys {
		sample[k] = "x"
	}
	for _, k := range vars {
		sample[k] = "x"
	}
	var b strings.Builder
	if err := t.Execute(&b, sample); err != nil {
		known := append(append([]string(nil), stdKeys...), vars...)
		sort.Strings(known)
		return nil, fmt.Errorf("%v (known names: %s; a name the rules pass in vars goes into the output's vars list)",
			templateErr(err), strings.Join(known, ", "))
	}
	return t, nil
}

// templateErr shortens text/template's error to what the installer needs.
func templateErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "map has no entry for key "); i >= 0 {
		return "unknown name " + strings.TrimPrefix(s[i:], "map has no entry for key ")
	}
	return s
}

// quietSchedule is QuietHours compiled.
type quietSchedule struct {
	windows []window
	text    string // as configured, for messages
	volume  int
	mute    bool
}

// window is [from, to) in minutes after midnight; to < from crosses it.
type window struct{ from, to int }

func (w window) contains(m int) bool {
	if w.from <= w.to {
		return m >= w.from && m < w.to
	}
	return m >= w.from || m < w.to
}

func compileQuiet(q *QuietHours, p Protocol, ef errorf) (*quietSchedule, error) {
	if len(q.Windows) == 0 {
		return nil, ef("quiet_hours.windows", "required: times such as \"22:00-07:00\"")
	}
	if len(q.Windows) > maxQuietWindows {
		return nil, ef("quiet_hours.windows", "%d windows, at most %d", len(q.Windows), maxQuietWindows)
	}
	s := &quietSchedule{volume: p.MaxVolume() / 3, mute: q.Mute, text: strings.Join(q.Windows, ", ")}
	for i, w := range q.Windows {
		win, err := parseWindow(w)
		if err != nil {
			return nil, ef(fmt.Sprintf("quiet_hours.windows[%d]", i), "%v", err)
		}
		s.windows = append(s.windows, win)
	}
	if q.Volume != nil {
		if q.Mute {
			return nil, ef("quiet_hours.volume", "set volume or mute, not both")
		}
		if *q.Volume < 0 || *q.Volume > p.MaxVolume() {
			return nil, ef("quiet_hours.volume", "%d out of range 0..%d for %s", *q.Volume, p.MaxVolume(), p)
		}
		s.volume = *q.Volume
	}
	return s, nil
}

// parseWindow reads "22:00-07:00".
func parseWindow(s string) (window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return window{}, edge.Msgf("%q: want HH:MM-HH:MM, such as 22:00-07:00", s)
	}
	from, err := parseHM(a)
	if err != nil {
		return window{}, edge.Msgf("%q: %v", s, err)
	}
	to, err := parseHM(b)
	if err != nil {
		return window{}, edge.Msgf("%q: %v", s, err)
	}
	if from == to {
		return window{}, edge.Msgf("%q: an empty window", s)
	}
	return window{from, to}, nil
}

func parseHM(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, edge.Msgf("%q is not a time HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// active reports whether t (already in the schedule's zone) is quiet.
func (q *quietSchedule) active(t time.Time) bool {
	if q == nil {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	for _, w := range q.windows {
		if w.contains(m) {
			return true
		}
	}
	return false
}
