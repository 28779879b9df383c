package serial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// OutputOptions is the "serial" output driver's part of the config. Each
// command is a text/template over the op's vars (.track, .device, ...) and
// its text (.Text); the *_hex forms render to hex bytes ("7E 03 {{.track |
// hex}} EF") for binary protocols.
type OutputOptions struct {
	Port `yaml:",inline"`
	// Send renders OpSend (a voice module's "PLAY {{.track}}\r\n", an LED
	// sign's "{{.Text}}\r\n"). SendHex is the hex form. Default: none, and
	// then OpSend is unsupported.
	Send    string `yaml:"send"`
	SendHex string `yaml:"send_hex"`
	// On and Off render OpSet with on true or false (OnHex, OffHex: hex
	// forms). Default: none, and then OpSet is unsupported.
	On     string `yaml:"on"`
	OnHex  string `yaml:"on_hex"`
	Off    string `yaml:"off"`
	OffHex string `yaml:"off_hex"`
}

// Output writes rendered commands to a serial device. It keeps the port
// open between writes and reopens it after a failed write: opening a port
// on Linux pulses DTR, which resets Arduino-style LED signs and voice
// modules, so opening per write would reset the device on every command.
// Run (edge.Runner) opens the port when the gateway starts, so that the
// port is the gateway's from then on, not only from the first command.
type Output struct {
	name          string
	log           *slog.Logger
	clock         edge.Clock
	throttle      *edge.LogThrottle
	opts          OutputOptions
	mode          *bugserial.Mode
	send, on, off *tmpl
	open          func(string, *bugserial.Mode) (bugserial.Port, error)

	sem  chan struct{} // one write at a time; held by a stuck write
	port bugserial.Port
	lost chan struct{} // a failed write closed the port: Run reopens it

	mu    sync.Mutex
	stats edge.DeviceStats
}

type tmpl struct {
	t   *template.Template
	hex bool
}

// templateFuncs are available in output templates.
var templateFuncs = template.FuncMap{
	// hex renders a number (or numeric string) as one hex byte, "0A".
	"hex": func(v any) (string, error) { return hexN(v, 1) },
	// hex16 renders a number as two big-endian hex bytes, "01 F4".
	"hex16": func(v any) (string, error) { return hexN(v, 2) },
	// bytes renders text as hex bytes, for text inside a hex template.
	"bytes": func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%02X ", s[i])
		}
		return strings.TrimSpace(b.String())
	},
	"upper": strings.ToUpper,
}

func hexN(v any, n int) (string, error) {
	var x uint64
	switch t := v.(type) {
	case string:
		u, err := strconv.ParseUint(strings.TrimSpace(t), 0, 64)
		if err != nil {
			return "", fmt.Errorf("hex: %q is not a number", t)
		}
		x = u
	case int:
		x = uint64(t)
	case uint64:
		x = t
	default:
		return "", fmt.Errorf("hex: unsupported value %v", v)
	}
	if x >= 1<<(8*n) {
		return "", fmt.Errorf("hex: %d does not fit in %d byte(s)", x, n)
	}
	if n == 1 {
		return fmt.Sprintf("%02X", x), nil
	}
	return fmt.Sprintf("%02X %02X", x>>8, x&0xff), nil
}

func parseTmpl(text, hexText, field string, ef errorf) (*tmpl, error) {
	if text != "" && hexText != "" {
		return nil, ef(field, "set %s or %s_hex, not both", field, field)
	}
	if text == "" && hexText == "" {
		return nil, nil
	}
	src, isHex, f := text, false, field
	if hexText != "" {
		src, isHex, f = hexText, true, field+"_hex"
	}
	t, err := template.New(f).Option("missingkey=error").Funcs(templateFuncs).Parse(src)
	if err != nil {
		return nil, ef(f, "bad template: %v", err)
	}
	return &tmpl{t: t, hex: isHex}, nil
}

// NewOutput is the "serial" output driver's factory.
func NewOutput(env edge.Env, opts edge.Options) (edge.Output, error) {
	var o OutputOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return NewSerialOutput(env, o, opts.Errorf)
}

// NewSerialOutput builds the output from decoded options.
func NewSerialOutput(env edge.Env, o OutputOptions, ef func(field, format string, args ...any) error) (*Output, error) {
	if ef == nil {
		ef = plainErrorf
	}
	o.Port.defaults()
	if err := o.Port.validate(ef); err != nil {
		return nil, err
	}
	mode, err := o.Port.Mode()
	if err != nil {
		return nil, ef("port", "%v", err)
	}
	out := &Output{name: env.Name, opts: o, mode: mode, sem: make(chan struct{}, 1), lost: make(chan struct{}, 1)}
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
	if out.send, err = parseTmpl(o.Send, o.SendHex, "send", ef); err != nil {
		return nil, err
	}
	if out.on, err = parseTmpl(o.On, o.OnHex, "on", ef); err != nil {
		return nil, err
	}
	if out.off, err = parseTmpl(o.Off, o.OffHex, "off", ef); err != nil {
		return nil, err
	}
	if (out.on == nil) != (out.off == nil) {
		return nil, ef("on", "set both on and off, or neither")
	}
	if out.send == nil && out.on == nil {
		return nil, ef("send", "set send (or send_hex), or on and off: the output has nothing to write")
	}
	out.stats.Device = env.Name
	return out, nil
}

// Render returns the bytes op would write.
func (o *Output) Render(op edge.Op) ([]byte, error) {
	var t *tmpl
	switch op.Kind {
	case edge.OpSend:
		t = o.send
	case edge.OpSet:
		t = o.off
		if op.On {
			t = o.on
		}
	}
	if t == nil {
		return nil, fmt.Errorf("output %q: %w: %s", o.name, edge.ErrUnsupported, op.Kind)
	}
	data := make(map[string]string, len(op.Vars)+2)
	for k, v := range op.Vars {
		data[k] = v
	}
	data["Text"] = op.Text
	if _, ok := data["text"]; !ok {
		data["text"] = op.Text
	}
	var b bytes.Buffer
	if err := t.t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("output %q: render %s: %w", o.name, t.t.Name(), err)
	}
	if !t.hex {
		return b.Bytes(), nil
	}
	raw, err := ParseBytes(b.String())
	if err != nil {
		return nil, fmt.Errorf("output %q: %s rendered %q: %w", o.name, t.t.Name(), b.String(), err)
	}
	return raw, nil
}

// Apply renders op and writes it. It returns once the bytes are written,
// or with ctx's error if the port does not take them in time; a stuck write
// keeps the port busy (later Applies wait, bounded by their ctx) until it
// ends, and then the port is reopened.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	data, err := o.Render(op)
	if err != nil {
		return err
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return o.fail(fmt.Errorf("output %q: port busy with an earlier write: %w", o.name, ctx.Err()))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-o.sem }()
		done <- o.write(data)
	}()
	select {
	case err := <-done:
		if err != nil {
			return o.fail(err)
		}
		o.mu.Lock()
		o.stats.Frames++
		o.mu.Unlock()
		return nil
	case <-ctx.Done():
		return o.fail(fmt.Errorf("output %q: write to %s: %w", o.name, o.opts.Port.Port, ctx.Err()))
	}
}

// write runs holding sem: it (re)opens the port and retries once after a
// failed write, as a port that vanished and came back fails its first write.
func (o *Output) write(data []byte) error {
	var last error
	for attempt := 0; attempt < 2; attempt++ {
		if o.port == nil {
			p, err := o.open(o.opts.Port.Port, o.mode)
			if err != nil {
				return fmt.Errorf("output %q: open %s: %w", o.name, o.opts.Port.Port, err)
			}
			o.port = p
			if attempt > 0 {
				o.mu.Lock()
				o.stats.Reconnects++
				o.mu.Unlock()
			}
		}
		_, err := writeAll(o.port, data)
		if err == nil {
			if err = o.port.Drain(); err == nil {
				return nil
			}
		}
		last = err
		o.port.Close()
		o.port = nil
	}
	select {
	case o.lost <- struct{}{}:
	default:
	}
	return fmt.Errorf("output %q: write to %s: %w", o.name, o.opts.Port.Port, last)
}

// Run opens the port at once and keeps it open until ctx ends: it reopens
// it, with backoff, when it cannot be opened (unplugged, held by another
// program) or a write failed. Writes open it themselves too, so an output
// whose Run is not running still works.
func (o *Output) Run(ctx context.Context) error {
	b := edge.Backoff{Min: time.Second, Max: 30 * time.Second, Clock: o.clock}
	for {
		err := o.claim(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.throttle.Warn("open", "serial output port unavailable", "err", err)
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

// claim opens the port if it is not open.
func (o *Output) claim(ctx context.Context) error {
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-o.sem }()
	if o.port != nil {
		return nil
	}
	p, err := o.open(o.opts.Port.Port, o.mode)
	if err != nil {
		return fmt.Errorf("output %q: open %s: %w", o.name, o.opts.Port.Port, err)
	}
	o.port = p
	return nil
}

func writeAll(p bugserial.Port, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := p.Write(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, errors.New("port accepted no bytes")
		}
	}
	return n, nil
}

func (o *Output) fail(err error) error {
	o.mu.Lock()
	o.stats.Errors++
	o.stats.LastError = err.Error()
	o.mu.Unlock()
	o.log.Warn("serial output failed", "err", err)
	return err
}

// Stats reports the output's writes (Frames), failures and reopens.
func (o *Output) Stats() []edge.DeviceStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return []edge.DeviceStats{o.stats}
}

// Close closes the port, waiting at most a second for a write in progress.
func (o *Output) Close() error {
	select {
	case o.sem <- struct{}{}:
		defer func() { <-o.sem }()
	case <-o.clock.After(time.Second):
		return fmt.Errorf("output %q: a write is still in progress", o.name)
	}
	if o.port != nil {
		err := o.port.Close()
		o.port = nil
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
