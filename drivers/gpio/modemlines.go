package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"go.bug.st/serial"
)

// ModemPort is the part of a serial port the modem-line drivers use.
type ModemPort interface {
	GetModemStatusBits() (*serial.ModemStatusBits, error)
	SetDTR(bool) error
	SetRTS(bool) error
	Close() error
}

// OpenModemPort opens a serial port for its modem lines, with DTR and RTS
// at the given levels, through serialport (lock file, exclusive mode).
func OpenModemPort(path string, dtr, rts bool) (ModemPort, error) {
	return openModemPort(&serialport.Opener{}, path, dtr, rts)
}

// modemOpener is OpenModemPort with the driver's logger and clock.
func modemOpener(env edge.Env) func(path string, dtr, rts bool) (ModemPort, error) {
	o := &serialport.Opener{Log: env.Logger, Clock: env.Clock}
	return func(path string, dtr, rts bool) (ModemPort, error) { return openModemPort(o, path, dtr, rts) }
}

func openModemPort(o *serialport.Opener, path string, dtr, rts bool) (ModemPort, error) {
	p, err := o.Open(path, &serial.Mode{BaudRate: 9600, InitialStatusBits: &serial.ModemOutputBits{DTR: dtr, RTS: rts}})
	if err != nil {
		return nil, fmt.Errorf("open %s for its modem lines: %w", path, err)
	}
	return p, nil
}

// A port's modem lines may be read by an input and its DTR/RTS driven by
// outputs at once (DTR often powers the contact loop read on CTS), but the
// port opens only once: inputs and outputs on one path share it.
var (
	portsMu sync.Mutex
	ports   = map[string]*sharedPort{}
)

type sharedPort struct {
	path string
	open func() (ModemPort, error)
	refs int

	mu    sync.Mutex
	p     ModemPort
	opens int
}

func acquirePort(path string, open func() (ModemPort, error)) (*sharedPort, func()) {
	portsMu.Lock()
	defer portsMu.Unlock()
	s := ports[path]
	if s == nil {
		s = &sharedPort{path: path, open: open}
		ports[path] = s
	}
	s.refs++
	var once sync.Once
	return s, func() {
		once.Do(func() {
			portsMu.Lock()
			defer portsMu.Unlock()
			if s.refs--; s.refs == 0 {
				delete(ports, path)
				s.mu.Lock()
				if s.p != nil {
					s.p.Close()
					s.p = nil
				}
				s.mu.Unlock()
			}
		})
	}
}

// reopened reports whether the port has been opened more than once.
func (s *sharedPort) reopened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens > 1
}

// do runs fn on the open port, opening it first if needed; an error from
// fn closes the port so that the next do reopens it.
func (s *sharedPort) do(fn func(ModemPort) error) (reopened bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		p, err := s.open()
		if err != nil {
			return false, err
		}
		s.p, reopened = p, true
		s.opens++
	}
	if err := fn(s.p); err != nil {
		s.p.Close()
		s.p = nil
		return reopened, err
	}
	return reopened, nil
}

// Signals a modem-lines point can read.
var modemSignals = map[string]func(*serial.ModemStatusBits) bool{
	"cts": func(b *serial.ModemStatusBits) bool { return b.CTS },
	"dsr": func(b *serial.ModemStatusBits) bool { return b.DSR },
	"dcd": func(b *serial.ModemStatusBits) bool { return b.DCD },
	"ri":  func(b *serial.ModemStatusBits) bool { return b.RI },
}

// ModemOptions are the "modemlines" input driver's settings: dry contacts
// wired to a serial port's status inputs, polled.
type ModemOptions struct {
	// Port is the serial device: /dev/ttyS0, /dev/ttyUSB0, COM1. Required.
	Port string `yaml:"port"`
	// Interval is the time between reads of the lines. Default: 50ms.
	Interval edge.Duration `yaml:"interval"`
	// Debounce: a line must hold a new level this long before the change
	// is sent. Default: 100ms.
	Debounce *edge.Duration `yaml:"debounce"`
	// DTR and RTS are the levels set when the port opens; a contact wired
	// from DTR to CTS needs DTR on to be read. Default: both on.
	DTR *bool `yaml:"dtr"`
	RTS *bool `yaml:"rts"`
	// Devices are the contacts' devices. At least one is required.
	Devices []DeviceOptions[ModemPointOptions] `yaml:"devices"`
}

// ModemPointOptions is one contact on one status line.
type ModemPointOptions struct {
	// Name is the point name. Required, unique within the device.
	Name string `yaml:"name"`
	// Signal is cts, dsr, dcd or ri. Required, each at most once per port.
	Signal string `yaml:"signal"`
	// Invert: the contact is active when the line is off. Default: false.
	Invert bool `yaml:"invert"`
	// On and Off name the active and inactive states. Default: closed, open.
	On  string `yaml:"on"`
	Off string `yaml:"off"`
}

type modemPoint struct {
	contact
	signal         string
	get            func(*serial.ModemStatusBits) bool
	invert         bool
	have, reported bool
	cand           bool
	candSince      time.Time
}

// Modem polls the modem status lines of one serial port.
type Modem struct {
	*contacts
	port     string
	interval time.Duration
	debounce time.Duration
	dtr, rts bool
	points   []*modemPoint

	open func(path string, dtr, rts bool) (ModemPort, error)
	// backoff paces the reopening of a lost port (Clock is set by Run).
	backoff edge.Backoff
}

// NewModem builds the input driver from its options; it opens nothing.
func NewModem(env edge.Env, opts edge.Options) (*Modem, error) {
	var o ModemOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Port == "" {
		return nil, opts.Errorf("port", "port is required (/dev/ttyS0, COM1)")
	}
	m := &Modem{port: o.Port, interval: o.Interval.D(), debounce: 100 * time.Millisecond,
		dtr: true, rts: true, open: modemOpener(env), backoff: edge.Backoff{Min: time.Second, Max: 30 * time.Second}}
	if m.interval == 0 {
		m.interval = 50 * time.Millisecond
	}
	if m.interval < 5*time.Millisecond {
		return nil, opts.Errorf("interval", "interval %v is too short (at least 5ms)", m.interval)
	}
	if o.Debounce != nil {
		if m.debounce = o.Debounce.D(); m.debounce < 0 {
			return nil, opts.Errorf("debounce", "debounce may not be negative")
		}
	}
	if o.DTR != nil {
		m.dtr = *o.DTR
	}
	if o.RTS != nil {
		m.rts = *o.RTS
	}
	used := map[string]string{}
	var err error
	m.contacts, err = buildContacts(env, opts, o.Devices, func(c contact, pf string, po ModemPointOptions) error {
		get := modemSignals[po.Signal]
		if get == nil {
			return opts.Errorf(pf+".signal", "unknown signal %q (want cts, dsr, dcd or ri)", po.Signal)
		}
		if other, dup := used[po.Signal]; dup {
			return opts.Errorf(pf+".signal", "signal %s is already read by %s", po.Signal, other)
		}
		used[po.Signal] = c.dev + "/" + c.name
		m.points = append(m.points, &modemPoint{contact: c, signal: po.Signal, get: get, invert: po.Invert})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Run polls the lines until ctx ends; a port that fails or vanishes takes
// the devices offline and is reopened with jittered backoff.
func (m *Modem) Run(ctx context.Context, sink edge.Sink) error {
	port, release := acquirePort(m.port, func() (ModemPort, error) { return m.open(m.port, m.dtr, m.rts) })
	defer release()
	backoff := m.backoff
	backoff.Clock = m.clock
	var bits serial.ModemStatusBits
	for {
		reopened, err := port.do(func(p ModemPort) error {
			b, err := p.GetModemStatusBits()
			if err != nil {
				return fmt.Errorf("read modem status lines of %s: %w", m.port, err)
			}
			bits = *b
			return nil
		})
		wait := m.interval
		if err != nil {
			if m.offline(sink, err, err.Error()) {
				m.log.Warn("modem lines unreadable; reopening", "port", m.port, "err", err)
				for _, p := range m.points {
					p.have = false // send the lines' state again when they are back
				}
			}
			wait = backoff.Next()
		} else {
			backoff.Reset()
			again := reopened && port.reopened()
			m.count(func(s *edge.DeviceStats) {
				s.Frames++
				if again {
					s.Reconnects++
				}
			})
			m.online(sink, "modem lines readable")
			m.sample(sink, &bits, m.clock.Now())
		}
		if edge.Sleep(ctx, m.clock, wait) != nil {
			return nil
		}
	}
}

// sample debounces one reading of the lines: a new level is sent once it
// has held for the debounce period; the first reading is sent at once.
func (m *Modem) sample(sink edge.Sink, bits *serial.ModemStatusBits, now time.Time) {
	for _, p := range m.points {
		v := p.get(bits) != p.invert
		if !p.have {
			p.have, p.cand, p.candSince = true, v, now
			p.reported = v
			m.report(sink, p.contact, v)
			continue
		}
		if v != p.cand {
			p.cand, p.candSince = v, now
		}
		if p.cand != p.reported && now.Sub(p.candSince) >= m.debounce {
			p.reported = p.cand
			m.report(sink, p.contact, p.cand)
		}
	}
}

// ModemOutputOptions are the "modemlines" output driver's settings: DTR
// or RTS of a serial port switched on and off.
type ModemOutputOptions struct {
	// Port is the serial device. Required.
	Port string `yaml:"port"`
	// Signal is dtr or rts. Required.
	Signal string `yaml:"signal"`
	// Invert: on drives the line off. Default: false.
	Invert bool `yaml:"invert"`
}

// ModemOutput drives DTR or RTS. Run (edge.Runner) opens the port when
// the gateway starts, so that the port is the gateway's from then on;
// Apply opens it too when Run is not running.
type ModemOutput struct {
	path     string
	rts      bool
	invert   bool
	open     func(path string, dtr, rts bool) (ModemPort, error)
	clock    edge.Clock
	throttle *edge.LogThrottle

	mu      sync.Mutex
	port    *sharedPort
	release func()
}

// NewModemOutput builds the output from its options; it opens nothing.
func NewModemOutput(env edge.Env, opts edge.Options) (*ModemOutput, error) {
	var o ModemOutputOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Port == "" {
		return nil, opts.Errorf("port", "port is required")
	}
	if o.Signal != "dtr" && o.Signal != "rts" {
		return nil, opts.Errorf("signal", "signal %q: want dtr or rts", o.Signal)
	}
	clock := env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	return &ModemOutput{path: o.Port, rts: o.Signal == "rts", invert: o.Invert, open: modemOpener(env),
		clock: clock, throttle: &edge.LogThrottle{Log: log, Clock: clock}}, nil
}

// Run opens the port at once (retrying with backoff while it cannot) and
// returns when ctx ends; Close gives the port back.
func (o *ModemOutput) Run(ctx context.Context) error {
	b := edge.Backoff{Min: time.Second, Max: 30 * time.Second, Clock: o.clock}
	for {
		_, err := o.shared().do(func(ModemPort) error { return nil })
		if err == nil {
			<-ctx.Done()
			return nil
		}
		o.throttle.Warn("open", "modemlines output port unavailable", "port", o.path, "err", err)
		if b.Wait(ctx) != nil {
			return nil
		}
	}
}

// shared returns the port, shared with the inputs and outputs on the
// same path. Opened by this output alone, the port starts with our line
// off (a siren must not sound because the gateway started) and the other
// line on.
func (o *ModemOutput) shared() *sharedPort {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.port == nil {
		off := o.invert
		dtr, rts := off, true
		if o.rts {
			dtr, rts = true, off
		}
		o.port, o.release = acquirePort(o.path, func() (ModemPort, error) { return o.open(o.path, dtr, rts) })
	}
	return o.port
}

// Apply sets the line for OpSet.
func (o *ModemOutput) Apply(ctx context.Context, op edge.Op) error {
	if op.Kind != edge.OpSet {
		return fmt.Errorf("modemlines output: %s: %w", op.Kind, edge.ErrUnsupported)
	}
	level := op.On != o.invert
	_, err := o.shared().do(func(p ModemPort) error {
		if o.rts {
			return p.SetRTS(level)
		}
		return p.SetDTR(level)
	})
	if err != nil {
		sig := "DTR"
		if o.rts {
			sig = "RTS"
		}
		return fmt.Errorf("modemlines output: set %s of %s: %w", sig, o.path, err)
	}
	return nil
}

// Close releases the port.
func (o *ModemOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.release != nil {
		o.release()
		o.port, o.release = nil, nil
	}
	return nil
}

var (
	_ edge.Driver        = (*Modem)(nil)
	_ edge.StatsReporter = (*Modem)(nil)
	_ edge.Output        = (*ModemOutput)(nil)
	_ edge.Runner        = (*ModemOutput)(nil)
	_ edge.Closer        = (*ModemOutput)(nil)
)
