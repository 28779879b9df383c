// Package gsm sends SMS through a GSM modem with AT commands on a serial
// port (output driver "sms"), for alarms when the uplink is down.
package gsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

func init() { edge.RegisterOutput("sms", NewOutput) }

// Options is the "sms" output driver's part of the config.
type Options struct {
	serial.Port `yaml:",inline"`
	// To are the default recipients, used when an op names none
	// ("+8613800000000"). Default: none, and then every op must name them.
	To []string `yaml:"to"`
	// Template renders the message body from the op's text (.Text) and
	// vars (.device, .location ...); a var the op lacks renders empty, as
	// an alarm SMS with a blank field beats no SMS. Default: "{{.Text}}".
	Template string `yaml:"template"`
	// CommandTimeout bounds each AT command and the wait for the > prompt.
	// Default: 5s.
	CommandTimeout edge.Duration `yaml:"command_timeout"`
	// SendTimeout bounds the wait for +CMGS after the text is sent; the
	// network can take tens of seconds. Default: 60s.
	SendTimeout edge.Duration `yaml:"send_timeout"`
	// RecipientTimeout bounds everything done for one recipient: every
	// attempt, retry waits and modem re-initialisations included. It runs
	// from when the modem starts on the recipient, not from when the SMS
	// was queued, so a slow recipient never eats the next one's time.
	// Default: 2m.
	RecipientTimeout edge.Duration `yaml:"recipient_timeout"`
	// Queue is how many recipients may wait while the modem is busy;
	// beyond it a recipient fails at once with ErrQueueFull. Default: 32.
	Queue int `yaml:"queue"`
	// Retries is how many more times an SMS is tried after a transient
	// failure (no answer, no network, congestion), per recipient.
	// Default: 2.
	Retries *int `yaml:"retries"`
	// RetryWait is the pause before the first retry; later ones double it,
	// up to four times as long (with jitter). Default: 5s.
	RetryWait edge.Duration `yaml:"retry_wait"`
}

// ErrQueueFull is returned for a recipient that found the SMS queue full.
var ErrQueueFull = errors.New("sms queue full")

// ErrRecipientTimeout is returned for a recipient whose recipient_timeout
// passed before the modem confirmed its SMS.
var ErrRecipientTimeout = errors.New("not confirmed within recipient_timeout")

// Output is the SMS output. Apply queues one job per recipient and waits
// until each is sent or failed, or until its ctx ends; Run owns the modem
// and works through the queue, each recipient on its own budget
// (recipient_timeout, retries), so every recipient is tried whatever
// became of the others and however long the caller waits. The gateway must
// run Run (edge.Runner).
type Output struct {
	name     string
	log      *slog.Logger
	clock    edge.Clock
	throttle *edge.LogThrottle
	opts     Options
	mode     *bugserial.Mode
	body     *template.Template
	jobs     chan *job
	open     func(string, *bugserial.Mode) (bugserial.Port, error)
	done     chan struct{} // closed when Run has ended

	mu                                sync.Mutex
	sent, failed, dropped, reconnects uint64
	lastError                         string
	running                           bool
}

// job is one recipient of one Apply.
type job struct {
	b     *batch
	i     int // the recipient's index in the batch
	to    string
	parts []string
	next  int // parts sent so far
}

// NewOutput is the "sms" output driver's factory.
func NewOutput(env edge.Env, opts edge.Options) (edge.Output, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return New(env, o, opts.Errorf)
}

// New builds the output from decoded options; ef names a bad field (nil:
// plain errors).
func New(env edge.Env, o Options, ef func(field, format string, args ...any) error) (*Output, error) {
	if ef == nil {
		ef = func(field, format string, args ...any) error {
			return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
		}
	}
	if o.Baud == 0 {
		o.Baud = 115200
	}
	o.Port.Defaults()
	if err := o.Port.Validate(ef); err != nil {
		return nil, err
	}
	if o.Template == "" {
		o.Template = "{{.Text}}"
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = edge.Duration(5 * time.Second)
	}
	if o.SendTimeout == 0 {
		o.SendTimeout = edge.Duration(60 * time.Second)
	}
	if o.RecipientTimeout == 0 {
		o.RecipientTimeout = edge.Duration(2 * time.Minute)
	}
	if o.Queue == 0 {
		o.Queue = 32
	}
	if o.Retries == nil {
		r := 2
		o.Retries = &r
	}
	if o.RetryWait == 0 {
		o.RetryWait = edge.Duration(5 * time.Second)
	}
	for i, n := range o.To {
		if err := checkNumber(n); err != nil {
			return nil, ef(fmt.Sprintf("to[%d]", i), "%v", err)
		}
	}
	for _, d := range []struct {
		field string
		v     edge.Duration
	}{{"command_timeout", o.CommandTimeout}, {"send_timeout", o.SendTimeout},
		{"recipient_timeout", o.RecipientTimeout}, {"retry_wait", o.RetryWait}} {
		if d.v < 0 {
			return nil, ef(d.field, "must not be negative")
		}
	}
	if o.Queue < 1 || o.Queue > 10000 {
		return nil, ef("queue", "%d out of range 1..10000", o.Queue)
	}
	if *o.Retries < 0 || *o.Retries > 10 {
		return nil, ef("retries", "%d out of range 0..10", *o.Retries)
	}
	t, err := template.New("template").Option("missingkey=zero").Parse(o.Template)
	if err != nil {
		return nil, ef("template", "bad template: %v", err)
	}
	mode, err := o.Port.Mode()
	if err != nil {
		return nil, ef("port", "%v", err)
	}
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	log = log.With("port", o.Port.Port)
	clock := env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	return &Output{name: env.Name, log: log, clock: clock, throttle: &edge.LogThrottle{Log: log, Clock: clock},
		opts: o, mode: mode, body: t, jobs: make(chan *job, o.Queue),
		open: (&serialport.Opener{Log: log, Clock: clock}).Open, done: make(chan struct{})}, nil
}

// checkNumber accepts what a modem takes in AT+CMGS: digits with an
// optional leading +.
func checkNumber(n string) error {
	s := strings.TrimPrefix(n, "+")
	if len(s) < 3 || len(s) > 20 {
		return fmt.Errorf("phone number %q: want 3 to 20 digits, optionally after +", n)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return fmt.Errorf("phone number %q: want digits only, optionally after +", n)
		}
	}
	return nil
}

// Apply sends op.Text (rendered with the template) to op.To, or to the
// default recipients. It returns nil once every recipient's SMS is sent;
// otherwise a *SendError that says, per recipient, which were sent, which
// failed and why, and which the modem was still working on when ctx ended:
// those are still tried to the end, and their outcome is logged. Only
// OpSend is supported.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	if op.Kind != edge.OpSend {
		return fmt.Errorf("sms output %q: %w: %s", o.name, edge.ErrUnsupported, op.Kind)
	}
	to := op.To
	if len(to) == 0 {
		to = o.opts.To
	}
	if len(to) == 0 {
		return fmt.Errorf("sms output %q: no recipients: the op names none and the output has no default `to`", o.name)
	}
	for _, n := range to {
		if err := checkNumber(n); err != nil {
			return fmt.Errorf("sms output %q: %w", o.name, err)
		}
	}
	data := map[string]string{}
	for k, v := range op.Vars {
		data[k] = v
	}
	data["Text"] = op.Text
	var b bytes.Buffer
	if err := o.body.Execute(&b, data); err != nil {
		return fmt.Errorf("sms output %q: render template: %w", o.name, err)
	}
	if strings.TrimSpace(b.String()) == "" {
		return fmt.Errorf("sms output %q: empty message", o.name)
	}
	select {
	case <-o.done:
		return fmt.Errorf("sms output %q: %w", o.name, edge.ErrClosed)
	default:
	}
	parts := split(b.String())
	bt := newBatch(to)
	for i, n := range to {
		select {
		case o.jobs <- &job{b: bt, i: i, to: n, parts: parts}:
		default:
			o.count(&o.dropped, ErrQueueFull)
			o.log.Warn("sms dropped", "to", n, "err", ErrQueueFull)
			bt.finish(i, fmt.Errorf("%w (%d waiting)", ErrQueueFull, o.opts.Queue))
		}
	}
	var wait error
	select {
	case <-bt.done:
	case <-ctx.Done():
		wait = ctx.Err()
	case <-o.done:
		wait = edge.ErrClosed
	}
	return bt.result(o.name, wait)
}

// batch follows the recipients of one Apply.
type batch struct {
	done chan struct{} // closed when every recipient is sent or failed

	mu   sync.Mutex
	to   []string
	errs []error
	over []bool
	left int
}

func newBatch(to []string) *batch {
	return &batch{done: make(chan struct{}), to: to, errs: make([]error, len(to)), over: make([]bool, len(to)), left: len(to)}
}

// finish records recipient i's outcome; it reports whether it was the last.
func (b *batch) finish(i int, err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over[i] {
		return false
	}
	b.over[i], b.errs[i] = true, err
	if b.left--; b.left == 0 {
		close(b.done)
		return true
	}
	return false
}

// result is nil when every recipient was sent, else a *SendError.
func (b *batch) result(output string, wait error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := &SendError{Output: output, Wait: wait}
	for i, n := range b.to {
		switch {
		case !b.over[i]:
			e.Pending = append(e.Pending, n)
		case b.errs[i] != nil:
			e.Failed = append(e.Failed, RecipientError{To: n, Err: b.errs[i]})
		default:
			e.Sent = append(e.Sent, n)
		}
	}
	if len(e.Failed) == 0 && len(e.Pending) == 0 {
		return nil
	}
	return e
}

// summary logs, once every recipient is over, which were sent and which
// failed: the line to read when the caller stopped waiting before the end.
func (b *batch) summary(log *slog.Logger) {
	err := b.result("", nil)
	var se *SendError
	if !errors.As(err, &se) {
		log.Info("sms batch done", "sent", b.to, "failed", []string{})
		return
	}
	failed := make([]string, 0, len(se.Failed))
	for _, f := range se.Failed {
		failed = append(failed, f.To+": "+f.Err.Error())
	}
	log.Warn("sms batch done", "sent", nonNil(se.Sent), "failed", failed)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SendError is what became of an SMS per recipient, when not every
// recipient got it: the action's recorded result. It unwraps to every
// recipient's error and to why the caller stopped waiting.
type SendError struct {
	Output  string
	Sent    []string
	Failed  []RecipientError
	Pending []string // still being tried when the caller stopped waiting
	Wait    error    // why the caller stopped waiting; nil when all were over
}

// RecipientError is one recipient's failure.
type RecipientError struct {
	To  string
	Err error
}

func (e *SendError) Error() string {
	var b strings.Builder
	total := len(e.Sent) + len(e.Failed) + len(e.Pending)
	fmt.Fprintf(&b, "sms output %q: sent to %d of %d", e.Output, len(e.Sent), total)
	if len(e.Sent) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Sent, ", "))
	}
	if len(e.Failed) > 0 {
		b.WriteString("; failed: ")
		for i, f := range e.Failed {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %v", f.To, f.Err)
		}
	}
	if len(e.Pending) > 0 {
		fmt.Fprintf(&b, "; not confirmed yet: %s (still being tried, the outcome will be logged; stopped waiting: %v)",
			strings.Join(e.Pending, ", "), e.Wait)
	}
	return b.String()
}

func (e *SendError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed)+1)
	for _, f := range e.Failed {
		errs = append(errs, f.Err)
	}
	if e.Wait != nil {
		errs = append(errs, e.Wait)
	}
	return errs
}

func (o *Output) count(c *uint64, err error) {
	o.mu.Lock()
	*c++
	if err != nil {
		o.lastError = err.Error()
	}
	o.mu.Unlock()
}

// Stats reports the modem as one entry: Frames are recipients sent to,
// Errors recipients failed (dropped on a full queue included), Reconnects
// modem (re)opens.
func (o *Output) Stats() []edge.DeviceStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return []edge.DeviceStats{{Device: o.name, Frames: o.sent, Errors: o.failed + o.dropped,
		Reconnects: o.reconnects, LastError: o.lastError}}
}

// Counters are the SMS counts per recipient, for tests and the status page.
type Counters struct {
	Sent, Failed, Dropped uint64
}

// Counters returns the SMS counts.
func (o *Output) Counters() Counters {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Counters{Sent: o.sent, Failed: o.failed, Dropped: o.dropped}
}

var (
	_ edge.Output        = (*Output)(nil)
	_ edge.Runner        = (*Output)(nil)
	_ edge.StatsReporter = (*Output)(nil)
)
