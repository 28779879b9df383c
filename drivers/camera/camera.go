// Package camera is the input for IP cameras and NVRs that report alarms
// over HTTP (driver "camera"): Hikvision ISAPI event notifications posted
// to the gateway or read from the camera's alertStream, and Dahua's
// eventManager attach stream. It maps camera, channel and event type to
// devices and points, folds the camera's resend-every-second into one
// active/inactive pair, and keeps the alarm pictures in a bounded folder.
package camera

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

func init() { edge.RegisterDriver("camera", New) }

// Driver serves the cameras of one "camera" input: one push listener for
// the cameras that post, one subscription per camera that is pulled.
type Driver struct {
	name     string
	log      *slog.Logger
	clock    edge.Clock
	throttle *edge.LogThrottle
	opts     Options
	devices  []edge.Device
	cams     []*camState
	byAddr   map[string]*camState // push cameras by IP
	routes   map[routeKey]route
	auth     *digestServer
	// probe, when set, gets every alarm instead of the mapping (edgegw
	// probe camera); posts are then accepted from anyone.
	probe    func(cam string, a Alarm)
	probeBad func(cam string, err error)

	// bound is the listener's address once Run has bound it.
	boundMu sync.Mutex
	bound   net.Addr
	boundc  chan struct{}

	mu       sync.Mutex
	pics     *Pictures
	points   map[string]*pointState // device + "\x00" + point
	counters Counters
}

// Counters are the input's totals, beside the per-device Stats.
type Counters struct {
	Alarms     uint64 // notifications that changed a point (start or end)
	Repeats    uint64 // resends of an active alarm, folded into it
	KeepAlives uint64 // heartBeat, videoloss inactive, Dahua Heartbeat
	Unmapped   uint64 // alarms of a channel or type no device maps
	Refused    uint64 // posts refused: unknown source, bad credential, wrong path or method, busy
	Malformed  uint64 // bodies and parts that did not parse
	Oversize   uint64 // bodies and parts over their limit
	Pictures   uint64 // pictures kept
	PicDropped uint64 // pictures dropped: too large, not a JPEG, no folder, write failed
}

type camState struct {
	cfg     CameraConfig
	devices []string
	// online: 0 unknown, 1 online, 2 offline.
	online     int
	lastHeard  time.Time
	frames     uint64
	garbage    uint64
	overlong   uint64
	errors     uint64
	reconnects uint64
	lastError  string
}

type routeKey struct {
	cam     *camState
	channel int
	typ     string // lowercased
}

type route struct {
	device string
	ev     EventConfig
}

type pointState struct {
	active     bool
	last       time.Time // the last "active" seen
	hasPicture bool      // a picture was kept for this activation
}

// New is the "camera" input driver's factory.
func New(env edge.Env, opts edge.Options) (edge.Driver, error) {
	var o Options
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	return NewDriver(env, o, opts.Errorf)
}

// NewDriver builds a driver from decoded options; ef names a bad field
// (nil: plain errors). It opens nothing: Run binds and connects.
func NewDriver(env edge.Env, o Options, ef func(field, format string, args ...any) error) (*Driver, error) {
	if ef == nil {
		ef = plainErrorf
	}
	o.defaults()
	if err := o.validate(ef); err != nil {
		return nil, err
	}
	d := newDriver(env, o)
	for _, cc := range o.Cameras {
		cs := &camState{cfg: cc}
		d.cams = append(d.cams, cs)
		if cc.Pull == "" && cc.Address != "" {
			ip := net.ParseIP(cc.Address).String()
			if _, dup := d.byAddr[ip]; dup {
				return nil, ef("cameras", "two cameras that post share the address %s", ip)
			}
			d.byAddr[ip] = cs
		}
		for _, dc := range cc.Devices {
			d.devices = append(d.devices, edge.Device{ID: dc.ID, Location: dc.Location, Tags: dc.Tags,
				Type: dc.Type, Driver: env.Name})
			cs.devices = append(cs.devices, dc.ID)
			for _, ec := range dc.Events {
				d.routes[routeKey{cs, dc.Channel, strings.ToLower(ec.Type)}] = route{dc.ID, ec}
			}
		}
	}
	return d, nil
}

func newDriver(env edge.Env, o Options) *Driver {
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	clock := env.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	return &Driver{name: env.Name, log: log, clock: clock, opts: o,
		throttle: &edge.LogThrottle{Log: log, Interval: o.LogInterval.D(), Clock: clock},
		byAddr:   map[string]*camState{}, routes: map[routeKey]route{},
		auth: newDigestServer("edgegw"), points: map[string]*pointState{}, boundc: make(chan struct{})}
}

// Devices lists the devices of every camera.
func (d *Driver) Devices() []edge.Device { return append([]edge.Device(nil), d.devices...) }

// Counters returns the input's totals.
func (d *Driver) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counters
}

// Stats reports each device's counters: those of its camera (Frames:
// notifications, keep-alives included; Garbage: malformed; Overlong:
// oversize; Errors: refused posts and failed connections). Posts that name
// no camera are shown on every device.
func (d *Driver) Stats() []edge.DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []edge.DeviceStats
	for _, c := range d.cams {
		for _, id := range c.devices {
			out = append(out, edge.DeviceStats{Device: id, Frames: c.frames, Garbage: c.garbage,
				Overlong: c.overlong, Errors: c.errors + d.counters.Refused, Reconnects: c.reconnects,
				LastError: c.lastError})
		}
	}
	return out
}

// Addr returns the push listener's address once Run has bound it (tests
// and the probe bind ":0"), or nil when ctx ends first.
func (d *Driver) Addr(ctx context.Context) net.Addr {
	select {
	case <-d.boundc:
		d.boundMu.Lock()
		defer d.boundMu.Unlock()
		return d.bound
	case <-ctx.Done():
		return nil
	}
}

// Run serves the cameras until ctx ends. It fails only when the listener
// cannot bind (wrapping edge.ErrPortInUse when the address is taken) or
// the picture folder cannot be opened; pull streams reconnect on their own.
func (d *Driver) Run(ctx context.Context, sink edge.Sink) error {
	if d.opts.Pictures.Dir != "" {
		p, err := OpenPictures(d.opts.Pictures.Dir, int64(d.opts.Pictures.MaxBytes), int64(d.opts.Pictures.MaxFiles))
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.pics = p
		d.mu.Unlock()
	}
	var ln net.Listener
	if d.opts.Listen != "" {
		var err error
		if ln, err = listen(d.opts.Listen); err != nil {
			return err
		}
		d.log.Info("camera listener open", "addr", ln.Addr().String(), "path", d.opts.Path)
		d.boundMu.Lock()
		d.bound = ln.Addr()
		d.boundMu.Unlock()
		close(d.boundc)
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	if ln != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.serve(ctx, ln, sink) }()
	}
	for _, c := range d.cams {
		if c.cfg.Pull == "" {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); d.pullLoop(ctx, c, sink) }()
	}
	d.sweepLoop(ctx, sink)
	return nil
}

// sweepLoop ends the alarms the camera stopped resending and marks silent
// cameras offline.
func (d *Driver) sweepLoop(ctx context.Context, sink edge.Sink) {
	tick := min(d.opts.Hold.D()/2, time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(tick):
		}
		emit(sink, d.sweep(), d.throttle)
	}
}

func (d *Driver) sweep() []edge.Event {
	now := d.clock.Now()
	hold := d.opts.Hold.D()
	d.mu.Lock()
	defer d.mu.Unlock()
	var evs []edge.Event
	for key, ps := range d.points {
		if ps.active && now.Sub(ps.last) >= hold {
			dev, point, _ := strings.Cut(key, "\x00")
			ps.active = false
			evs = append(evs, edge.StateChange(dev, point, d.offText(dev, point), 0))
			d.counters.Alarms++
		}
	}
	for _, c := range d.cams {
		if c.cfg.OfflineAfter > 0 && c.online == 1 && now.Sub(c.lastHeard) >= c.cfg.OfflineAfter.D() {
			evs = append(evs, d.setOnlineLocked(c, false, fmt.Sprintf("nothing from camera %s for %v", c.cfg.ID, c.cfg.OfflineAfter))...)
		}
	}
	return evs
}

func (d *Driver) offText(dev, point string) string {
	for _, r := range d.routes {
		if r.device == dev && r.ev.Point == point {
			return r.ev.Off
		}
	}
	return "inactive"
}

// setOnlineLocked records a camera's online state and returns the status
// events of its devices when it changed. d.mu is held.
func (d *Driver) setOnlineLocked(c *camState, online bool, reason string) []edge.Event {
	want := 2
	if online {
		want = 1
	}
	if c.online == want {
		return nil
	}
	c.online = want
	evs := make([]edge.Event, 0, len(c.devices))
	for _, id := range c.devices {
		evs = append(evs, edge.DeviceStatus(id, online, reason))
	}
	return evs
}

func (d *Driver) setOnline(sink edge.Sink, c *camState, online bool, reason string) {
	d.mu.Lock()
	evs := d.setOnlineLocked(c, online, reason)
	d.mu.Unlock()
	emit(sink, evs, d.throttle)
}

// handle applies one alarm of camera c and returns its events. A picture
// that comes with it is kept when the alarm starts a point.
func (d *Driver) handle(c *camState, a Alarm) []edge.Event {
	now := d.clock.Now()
	d.mu.Lock()
	c.frames++
	c.lastHeard = now
	evs := d.setOnlineLocked(c, true, "camera "+c.cfg.ID+" heard")
	keep := a.KeepAlive()
	if keep {
		d.counters.KeepAlives++
	}
	r, ok := d.routes[routeKey{c, a.Channel, strings.ToLower(a.Type)}]
	if !ok {
		if !keep {
			d.counters.Unmapped++
		}
		d.mu.Unlock()
		if !keep {
			d.throttle.Warn("unmapped "+c.cfg.ID+"/"+a.Type, "camera alarm maps to no device",
				"camera", c.cfg.ID, "channel", a.Channel, "type", a.Type)
		}
		return evs
	}
	key := r.device + "\x00" + r.ev.Point
	ps := d.points[key]
	if ps == nil {
		ps = &pointState{}
		d.points[key] = ps
	}
	var savePic bool
	switch {
	case a.Active && ps.active:
		ps.last = now
		d.counters.Repeats++
		savePic = !ps.hasPicture && a.Picture != nil
	case a.Active:
		ps.active, ps.last, ps.hasPicture = true, now, false
		d.counters.Alarms++
		evs = append(evs, edge.StateChange(r.device, r.ev.Point, r.ev.On, 1))
		savePic = a.Picture != nil
	case ps.active:
		ps.active = false
		d.counters.Alarms++
		evs = append(evs, edge.StateChange(r.device, r.ev.Point, r.ev.Off, 0))
	}
	pics := d.pics
	if savePic {
		ps.hasPicture = true
	}
	d.mu.Unlock()
	if savePic {
		if ev, ok := d.savePicture(pics, r, now, a.Picture); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// savePicture keeps a picture and returns the low-priority event that
// names its file: a reading of point "<point>_picture" whose Text is the
// file name and Value its size.
func (d *Driver) savePicture(pics *Pictures, r route, now time.Time, b []byte) (edge.Event, bool) {
	drop := func(why string, err error) (edge.Event, bool) {
		d.mu.Lock()
		d.counters.PicDropped++
		d.mu.Unlock()
		d.throttle.Warn("picture "+why, "camera picture dropped", "device", r.device, "why", why, "err", err)
		return edge.Event{}, false
	}
	if pics == nil {
		return edge.Event{}, false
	}
	if int64(len(b)) > int64(d.opts.Pictures.MaxPicture) {
		return drop("too large", fmt.Errorf("%d bytes over max_picture %d", len(b), d.opts.Pictures.MaxPicture))
	}
	name, err := pics.Save(r.device, now, b)
	if err != nil {
		return drop("write", err)
	}
	d.mu.Lock()
	d.counters.Pictures++
	d.mu.Unlock()
	ev := edge.Reading(r.device, r.ev.Point+"_picture", float64(len(b)), "bytes")
	ev.Text = name
	ev.Priority = edge.PriorityLow
	return ev, true
}

// attachPicture keeps a picture that came after its alarm (alertStream
// sends it as the next part), when that alarm's point has none yet.
func (d *Driver) attachPicture(c *camState, a Alarm, b []byte) []edge.Event {
	r, ok := d.routes[routeKey{c, a.Channel, strings.ToLower(a.Type)}]
	if !ok {
		return nil
	}
	now := d.clock.Now()
	d.mu.Lock()
	ps := d.points[r.device+"\x00"+r.ev.Point]
	if ps == nil || !ps.active || ps.hasPicture {
		d.mu.Unlock()
		return nil
	}
	ps.hasPicture = true
	pics := d.pics
	d.mu.Unlock()
	if ev, ok := d.savePicture(pics, r, now, b); ok {
		return []edge.Event{ev}
	}
	return nil
}

func emit(sink edge.Sink, evs []edge.Event, t *edge.LogThrottle) {
	for _, ev := range evs {
		if err := sink.Emit(ev); err != nil {
			t.Warn("emit", "camera event not recorded", "device", ev.Device, "err", err)
		}
	}
}

var _ edge.Driver = (*Driver)(nil)
var _ edge.StatsReporter = (*Driver)(nil)
