// Package gsm sends SMS through a GSM modem with AT commands on a serial
// port (output driver "sms"), for alarms when the uplink is down.
package gsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
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
	// Queue is how many SMS may wait while the modem is busy; beyond it an
	// op fails at once with ErrQueueFull. Default: 32.
	Queue int `yaml:"queue"`
	// Retries is how many more times an SMS is tried after a transient
	// failure (no answer, no network, congestion). Default: 2.
	Retries *int `yaml:"retries"`
	// RetryWait is the pause before a retry. Default: 5s.
	RetryWait edge.Duration `yaml:"retry_wait"`
}

// ErrQueueFull is returned when the SMS queue is full.
var ErrQueueFull = errors.New("sms queue full")

// Output is the SMS output. Apply queues one SMS per recipient and waits
// until each is sent or failed (bounded by its ctx); Run owns the modem and
// works through the queue. The gateway must run Run (edge.Runner).
type Output struct {
	name string
	log  *slog.Logger
	opts Options
	mode *bugserial.Mode
	body *template.Template
	jobs chan *job
	open func(string, *bugserial.Mode) (bugserial.Port, error)
	done chan struct{} // closed when Run has ended

	mu                                sync.Mutex
	sent, failed, dropped, reconnects uint64
	lastError                         string
	running                           bool
}

type job struct {
	ctx    context.Context
	to     string
	text   string
	result chan error // buffered 1
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
	if o.CommandTimeout < 0 || o.SendTimeout < 0 || o.RetryWait < 0 {
		return nil, ef("command_timeout", "timeouts must not be negative")
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
	return &Output{name: env.Name, log: log.With("port", o.Port.Port), opts: o, mode: mode, body: t,
		jobs: make(chan *job, o.Queue), open: bugserial.Open, done: make(chan struct{})}, nil
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
// default recipients. It returns once every SMS is sent or failed, or when
// ctx ends; SMS still queued then are not sent. Only OpSend is supported.
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
	var jobs []*job
	var errs []error
	for _, n := range to {
		for _, part := range split(b.String()) {
			j := &job{ctx: ctx, to: n, text: part, result: make(chan error, 1)}
			select {
			case o.jobs <- j:
				jobs = append(jobs, j)
			default:
				o.count(&o.dropped, ErrQueueFull)
				errs = append(errs, fmt.Errorf("sms to %s: %w (%d waiting)", n, ErrQueueFull, o.opts.Queue))
			}
		}
	}
	for _, j := range jobs {
		select {
		case err := <-j.result:
			if err != nil {
				errs = append(errs, fmt.Errorf("sms to %s: %w", j.to, err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("sms to %s: not confirmed in time: %w", j.to, ctx.Err()))
		case <-o.done:
			errs = append(errs, fmt.Errorf("sms to %s: %w", j.to, edge.ErrClosed))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sms output %q: %w", o.name, errors.Join(errs...))
	}
	return nil
}

func (o *Output) count(c *uint64, err error) {
	o.mu.Lock()
	*c++
	if err != nil {
		o.lastError = err.Error()
	}
	o.mu.Unlock()
}

// Run owns the modem: it opens the port when an SMS is waiting, keeps it
// open while it works, and reopens it after a failure. It returns nil when
// ctx ends; SMS still queued then fail with edge.ErrClosed.
func (o *Output) Run(ctx context.Context) error {
	o.mu.Lock()
	if o.running {
		o.mu.Unlock()
		return fmt.Errorf("sms output %q: Run called twice", o.name)
	}
	o.running = true
	o.mu.Unlock()
	defer close(o.done)
	var m *modem
	closeModem := func() {
		if m != nil {
			m.port.Close()
			m = nil
		}
	}
	defer closeModem()
	for {
		select {
		case <-ctx.Done():
			o.drain()
			return nil
		case j := <-o.jobs:
			m = o.process(ctx, j, m)
		}
	}
}

// drain fails what is left in the queue on shutdown.
func (o *Output) drain() {
	for {
		select {
		case j := <-o.jobs:
			j.result <- edge.ErrClosed
			o.count(&o.failed, edge.ErrClosed)
		default:
			return
		}
	}
}

// process sends one SMS with retries and returns the modem to keep.
func (o *Output) process(ctx context.Context, j *job, m *modem) (kept *modem) {
	closeModem := func() {
		if m != nil {
			m.port.Close()
			m = nil
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("panic in sms output: %v", r)
			o.log.Error("sms output panicked", "panic", r)
			closeModem()
			kept = nil
			j.result <- err
			o.count(&o.failed, err)
		}
	}()
	var err error
	for attempt := 0; ; attempt++ {
		err = nil
		if jerr := j.ctx.Err(); jerr != nil {
			err = fmt.Errorf("cancelled before sending: %w", jerr)
			break
		}
		if ctx.Err() != nil {
			err = edge.ErrClosed
			break
		}
		// The SMS's own deadline bounds the dialogue too.
		sctx, cancel := mergeCtx(ctx, j.ctx)
		if m == nil {
			m, err = o.connect(sctx)
		}
		if err == nil {
			var mr int
			mr, err = m.send(sctx, j.to, j.text, o.opts.CommandTimeout.D(), o.opts.SendTimeout.D())
			if err == nil {
				cancel()
				o.log.Info("sms sent", "to", j.to, "mr", mr)
				o.count(&o.sent, nil)
				j.result <- nil
				return m
			}
		}
		cancel()
		var me *ModemError
		modemSaid := errors.As(err, &me)
		if !modemSaid {
			// No answer, or the port failed: start over with a fresh port.
			closeModem()
		}
		if (modemSaid && !me.Transient()) || attempt >= *o.opts.Retries {
			break
		}
		o.log.Warn("sms failed, retrying", "to", j.to, "err", err, "attempt", attempt+1)
		wait := time.Duration(float64(o.opts.RetryWait.D()) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-time.After(wait):
		case <-j.ctx.Done():
		case <-ctx.Done():
		}
	}
	o.log.Warn("sms failed", "to", j.to, "err", err)
	o.count(&o.failed, err)
	j.result <- err
	return m
}

func (o *Output) connect(ctx context.Context) (*modem, error) {
	p, err := o.open(o.opts.Port.Port, o.mode)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.opts.Port.Port, err)
	}
	m, err := newModem(p)
	if err == nil {
		err = m.init(ctx, o.opts.CommandTimeout.D())
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("modem init: %w", err)
	}
	o.mu.Lock()
	o.reconnects++
	o.mu.Unlock()
	return m, nil
}

// mergeCtx is a ctx that ends when either ends.
func mergeCtx(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(nil) }
}

// Stats reports the modem as one entry: Frames are SMS sent, Errors SMS
// failed (dropped on a full queue included), Reconnects modem (re)opens.
func (o *Output) Stats() []edge.DeviceStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return []edge.DeviceStats{{Device: o.name, Frames: o.sent, Errors: o.failed + o.dropped,
		Reconnects: o.reconnects, LastError: o.lastError}}
}

// Counters are the SMS counts, for tests and the status page.
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
