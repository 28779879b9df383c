package modbus

import (
	"fmt"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// TxOptions bound the transactions with a slave. Set on the bus, they are
// every device's defaults; a device may override each of them.
type TxOptions struct {
	// Timeout is how long a slave may take to answer (its turnaround), on
	// top of the time the frames themselves take on the line. It is also
	// the master's idea of the slave's worst turnaround: after a timeout or
	// a damaged or mismatched answer, nothing is sent until the line has
	// been silent this long (plus 3.5 characters), so that a late answer is
	// discarded, never taken for the next request's. Default: 1s (the
	// Modbus serial line guide's figure for 9600 baud; see README).
	Timeout edge.Duration `yaml:"timeout"`
	// Retries is how many times a request that timed out or came back
	// damaged or mismatched is sent again. Default: 1.
	Retries *int `yaml:"retries"`
	// InterRequestDelay is the silence kept on the line before each request
	// to the slave, counted from the end of the last frame on the bus. Some
	// slaves on a multi-drop bus need 20 to 100ms. Default: 0s (the spec's
	// 3.5 characters only).
	InterRequestDelay *edge.Duration `yaml:"inter_request_delay"`
	// BusyRetry repeats a request answered with exception 6, SLAVE DEVICE
	// BUSY. Default: times 3, delay 100ms.
	BusyRetry *BusyRetryOptions `yaml:"busy_retry"`
}

// BusyRetryOptions say how to repeat a request a busy slave refused.
type BusyRetryOptions struct {
	// Times is how many times the request is sent again; 0 turns busy
	// retries off (the exception is counted and the value skipped this
	// poll). Default: 3.
	Times *int `yaml:"times"`
	// Delay is the silence kept before each repeat. Default: 100ms.
	Delay *edge.Duration `yaml:"delay"`
}

// Defaults and limits of the options.
const (
	defaultRetries    = 1
	defaultBusyTimes  = 3
	defaultBusyDelay  = 100 * time.Millisecond
	defaultOffline    = 3
	maxTimeout        = time.Minute
	maxDelay          = 10 * time.Second
	maxRetries        = 10
	defaultDeviceType = "modbus"
)

// defaultTx is the driver's transaction settings when none are given.
func defaultTx() Tx {
	return Tx{Timeout: DefaultTimeout, Retries: defaultRetries, BusyRetries: defaultBusyTimes, BusyDelay: defaultBusyDelay}
}

// over returns base with what o sets.
func (o *TxOptions) over(base Tx) Tx {
	if d := o.Timeout.D(); d > 0 {
		base.Timeout = d
	}
	if o.Retries != nil {
		base.Retries = *o.Retries
	}
	if o.InterRequestDelay != nil {
		base.Gap = o.InterRequestDelay.D()
	}
	if b := o.BusyRetry; b != nil {
		if b.Times != nil {
			base.BusyRetries = *b.Times
		}
		if b.Delay != nil {
			base.BusyDelay = b.Delay.D()
		}
	}
	return base
}

// validate checks o; prefix is "" on the bus, "devices[i]." on a device.
func (o *TxOptions) validate(opts edge.Options, prefix string) error {
	if d := o.Timeout.D(); d < 0 || d > maxTimeout || (d > 0 && d < time.Millisecond) {
		return opts.Errorf(prefix+"timeout", "timeout %v out of range 1ms..%v", d, maxTimeout)
	}
	if o.Retries != nil && (*o.Retries < 0 || *o.Retries > maxRetries) {
		return opts.Errorf(prefix+"retries", "retries %d out of range 0..%d", *o.Retries, maxRetries)
	}
	if o.InterRequestDelay != nil {
		if d := o.InterRequestDelay.D(); d < 0 || d > maxDelay {
			return opts.Errorf(prefix+"inter_request_delay", "inter_request_delay %v out of range 0s..%v", d, maxDelay)
		}
	}
	if b := o.BusyRetry; b != nil {
		if b.Times != nil && (*b.Times < 0 || *b.Times > maxRetries) {
			return opts.Errorf(prefix+"busy_retry.times", "busy_retry times %d out of range 0..%d", *b.Times, maxRetries)
		}
		if b.Delay != nil {
			if d := b.Delay.D(); d < 0 || d > maxDelay {
				return opts.Errorf(prefix+"busy_retry.delay", "busy_retry delay %v out of range 0s..%v", d, maxDelay)
			}
		}
	}
	return nil
}

// Options are the "modbus" input driver's settings.
type Options struct {
	LineOptions `yaml:",inline"`
	TxOptions   `yaml:",inline"`
	// OfflineAfter is how many polls in a row a slave may fail (no valid
	// answer after retries) before it goes offline; a slave with the odd
	// timeout stays online, its errors counted. Default: 3.
	OfflineAfter int `yaml:"offline_after"`
	// MaxGap lets one request read across up to this many unused
	// registers (or x16 bits) between two points of a slave, so that
	// nearby points cost one request; the gap's values are read and
	// dropped. Many slaves answer ILLEGAL DATA ADDRESS for unmapped
	// registers: raise it only where the gap is mapped. Default: 0 (only
	// points that touch or overlap share a request).
	MaxGap int `yaml:"max_gap"`
	// Groups are poll groups, each with its own interval. Default: one
	// group "default" polled every 1s with report_every 5m.
	Groups []GroupOptions `yaml:"groups"`
	// Devices are the slaves on this bus. At least one is required.
	Devices []DeviceOptions `yaml:"devices"`
}

// GroupOptions is a poll group.
type GroupOptions struct {
	// Name is how devices and points pick the group. Required.
	Name string `yaml:"name"`
	// Interval is the time between polls. Default: 1s.
	Interval edge.Duration `yaml:"interval"`
	// ReportEvery re-sends a reading that has not changed beyond its
	// deadband for this long, so that a steady value still shows it is
	// alive. 0s turns it off. Default: 5m. States (coils, discrete inputs,
	// bits) are sent only when they change and after a reconnect: a
	// repeated state event would look like a new change to the rules.
	ReportEvery *edge.Duration `yaml:"report_every"`
}

// DeviceOptions is one slave.
type DeviceOptions struct {
	// ID is the device id, unique in the gateway. Required.
	ID string `yaml:"id"`
	// Slave is the Modbus address, 1..247. Required.
	Slave int `yaml:"slave"`
	// Location is compound/building/unit/household. Default: none.
	Location string `yaml:"location"`
	// Tags are free labels for rules ("observe"). Default: none.
	Tags []string `yaml:"tags"`
	// Type is a free device type ("temperature"). Default: "modbus".
	Type string `yaml:"type"`
	// Group is the poll group of its points. Default: the first group.
	Group string `yaml:"group"`
	// MaxRead caps the registers (or bits x16) one request reads, for
	// slaves that cannot serve 125. Default: 125.
	MaxRead int `yaml:"max_read"`
	// MaxGap overrides the bus's max_gap for this slave. Default: the bus's.
	MaxGap *int `yaml:"max_gap"`
	// TxOptions override the bus's timeout, retries, inter_request_delay
	// and busy_retry for this slave. Default: the bus's.
	TxOptions `yaml:",inline"`
	// OfflineAfter overrides the bus's offline_after for this slave.
	// Default: the bus's.
	OfflineAfter int `yaml:"offline_after"`
	// Points are the values read from the slave. At least one is required.
	Points []PointOptions `yaml:"points"`
}

// PointOptions is one value of a slave.
type PointOptions struct {
	// Name is the point name in events ("temperature", "door"). Required,
	// unique within the device.
	Name string `yaml:"name"`
	// Table is coil, discrete, holding or input. Required.
	Table string `yaml:"table"`
	// Address is the 0-based protocol address (register 40001 in a
	// datasheet is holding 0, 30001 is input 0). Required.
	Address int `yaml:"address"`
	// Type is int16, uint16, int32, uint32, float32 (2 registers), int64,
	// uint64, float64 (4 registers) or string (Registers registers) for
	// registers. Default: uint16, or bool for coils, discrete inputs and
	// single bits.
	Type string `yaml:"type"`
	// Order is the order of the value's bytes in its registers: ABCD (high
	// word first, Modbus's own), CDAB (word swap), BADC (byte swap), DCBA
	// (little-endian). For a string, BADC puts the first character in the
	// low byte. Default: ABCD.
	Order string `yaml:"order"`
	// WordOrder is the older name of Order: big (ABCD) or little (CDAB).
	// Default: big.
	WordOrder string `yaml:"word_order"`
	// Registers is the length of a string in registers (two characters
	// each), 1..125. Required for type string.
	Registers int `yaml:"registers"`
	// Bit reads one bit (0 = least significant) of a holding or input
	// register as a state. Default: none (the whole register).
	Bit *int `yaml:"bit"`
	// Bits reads a bit range "LO-HI" (such as 4-7, 0 = least significant)
	// of a holding or input register as an unsigned reading, to which
	// scale and offset apply. Default: none.
	Bits string `yaml:"bits"`
	// Scale multiplies the raw value. Default: 1.
	Scale *float64 `yaml:"scale"`
	// Offset is added after scaling. Default: 0.
	Offset float64 `yaml:"offset"`
	// Decimals rounds the scaled value to this many decimal places, 0..12.
	// Default: for integer types and bit ranges with a scale or offset, the
	// decimals of the scale and offset (scale 0.1: 1, so 222 reads 22.2,
	// not 22.200000000000003); otherwise no rounding.
	Decimals *int `yaml:"decimals"`
	// Unit is the reading's unit ("C", "%"). Default: none.
	Unit string `yaml:"unit"`
	// Deadband: a reading is sent when it moved by at least this much
	// since the last one sent (0: on any change). Default: 0.
	Deadband float64 `yaml:"deadband"`
	// Group overrides the device's poll group. Default: the device's.
	Group string `yaml:"group"`
	// On and Off name the states of a bit point: a door reed switch is
	// on: open, off: closed. Default: "on" and "off".
	On  string `yaml:"on"`
	Off string `yaml:"off"`
	// Invert swaps the bit before naming it (a normally-closed contact).
	// Default: false.
	Invert bool `yaml:"invert"`
}

// compiled config

type point struct {
	name, unit      string
	table           Table
	addr            int
	typ             DataType
	order           WordOrder
	bit             int // -1: whole register
	bitHi           int // bits bit..bitHi as a number; -1: none
	regs            int // registers of a string
	decimals        int // -1: no rounding
	isText          bool
	text            string // last string sent
	scale, offset   float64
	deadband        float64
	on, off         string
	invert, isState bool
	group           string
	dev             *device
	have            bool
	last            float64
	lastSent        time.Time
}

func (p *point) words() int {
	if p.table.IsBits() {
		return 1
	}
	if p.typ == TypeString {
		return p.regs
	}
	return p.typ.Words()
}

type block struct {
	dev    *device
	table  Table
	addr   int
	qty    int
	points []*point
}

type group struct {
	name        string
	interval    time.Duration
	reportEvery time.Duration
	blocks      []*block
	next        time.Time
}

type device struct {
	edge.Device
	slave        byte
	points       []*point
	maxRead      int
	maxGap       int
	tx           Tx
	offlineAfter int
}

func compile(o *Options, opts edge.Options, driverName string) ([]*group, []*device, error) {
	if err := o.LineOptions.validate(opts); err != nil {
		return nil, nil, err
	}
	if err := o.TxOptions.validate(opts, ""); err != nil {
		return nil, nil, err
	}
	if o.OfflineAfter < 0 {
		return nil, nil, opts.Errorf("offline_after", "offline_after may not be negative")
	}
	if o.MaxGap < 0 || o.MaxGap > MaxReadRegisters-2 {
		return nil, nil, opts.Errorf("max_gap", "max_gap %d out of range 0..%d", o.MaxGap, MaxReadRegisters-2)
	}
	busTx := o.TxOptions.over(defaultTx())
	busOffline := o.OfflineAfter
	if busOffline == 0 {
		busOffline = defaultOffline
	}
	if len(o.Groups) == 0 {
		o.Groups = []GroupOptions{{Name: "default"}}
	}
	var groups []*group
	byName := map[string]*group{}
	for i, g := range o.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			return nil, nil, opts.Errorf(f+".name", "a poll group needs a name")
		}
		if byName[g.Name] != nil {
			return nil, nil, opts.Errorf(f+".name", "duplicate poll group %q", g.Name)
		}
		gr := &group{name: g.Name, interval: g.Interval.D(), reportEvery: 5 * time.Minute}
		if gr.interval == 0 {
			gr.interval = time.Second
		}
		if gr.interval < 10*time.Millisecond {
			return nil, nil, opts.Errorf(f+".interval", "interval %v is too short (at least 10ms)", gr.interval)
		}
		if g.ReportEvery != nil {
			gr.reportEvery = g.ReportEvery.D()
			if gr.reportEvery < 0 {
				return nil, nil, opts.Errorf(f+".report_every", "report_every may not be negative")
			}
		}
		byName[g.Name] = gr
		groups = append(groups, gr)
	}
	if len(o.Devices) == 0 {
		return nil, nil, opts.Errorf("devices", "at least one device (slave) is required")
	}
	var devs []*device
	ids := map[string]bool{}
	for i, do := range o.Devices {
		f := fmt.Sprintf("devices[%d]", i)
		if do.ID == "" {
			return nil, nil, opts.Errorf(f+".id", "a device needs an id")
		}
		if ids[do.ID] {
			return nil, nil, opts.Errorf(f+".id", "duplicate device id %q", do.ID)
		}
		ids[do.ID] = true
		if do.Slave < 1 || do.Slave > 247 {
			return nil, nil, opts.Errorf(f+".slave", "slave address %d out of range 1..247", do.Slave)
		}
		if do.Group != "" && byName[do.Group] == nil {
			return nil, nil, opts.Errorf(f+".group", "no poll group %q", do.Group)
		}
		if do.MaxRead < 0 || do.MaxRead > MaxReadRegisters {
			return nil, nil, opts.Errorf(f+".max_read", "max_read %d out of range 1..%d", do.MaxRead, MaxReadRegisters)
		}
		if len(do.Points) == 0 {
			return nil, nil, opts.Errorf(f+".points", "device %q has no points", do.ID)
		}
		if err := do.TxOptions.validate(opts, f+"."); err != nil {
			return nil, nil, err
		}
		if do.OfflineAfter < 0 {
			return nil, nil, opts.Errorf(f+".offline_after", "offline_after may not be negative")
		}
		typ := do.Type
		if typ == "" {
			typ = defaultDeviceType
		}
		d := &device{Device: edge.Device{ID: do.ID, Location: do.Location, Tags: do.Tags, Type: typ, Driver: driverName},
			slave: byte(do.Slave), maxRead: do.MaxRead, maxGap: o.MaxGap, tx: do.TxOptions.over(busTx), offlineAfter: busOffline}
		if do.MaxGap != nil {
			if *do.MaxGap < 0 || *do.MaxGap > MaxReadRegisters-2 {
				return nil, nil, opts.Errorf(f+".max_gap", "max_gap %d out of range 0..%d", *do.MaxGap, MaxReadRegisters-2)
			}
			d.maxGap = *do.MaxGap
		}
		if do.OfflineAfter > 0 {
			d.offlineAfter = do.OfflineAfter
		}
		if d.maxRead == 0 {
			d.maxRead = MaxReadRegisters
		}
		names := map[string]bool{}
		for j, po := range do.Points {
			pf := fmt.Sprintf("%s.points[%d]", f, j)
			p, err := compilePoint(&po, pf, opts)
			if err != nil {
				return nil, nil, err
			}
			if p.words() > d.maxRead {
				return nil, nil, opts.Errorf(pf+".registers", "%s of %d registers is longer than the device's max_read %d", p.typ, p.words(), d.maxRead)
			}
			if names[p.name] {
				return nil, nil, opts.Errorf(pf+".name", "duplicate point %q on device %q", p.name, do.ID)
			}
			names[p.name] = true
			p.group = po.Group
			if p.group == "" {
				p.group = do.Group
			}
			if p.group == "" {
				p.group = groups[0].name
			}
			if byName[p.group] == nil {
				return nil, nil, opts.Errorf(pf+".group", "no poll group %q", p.group)
			}
			p.dev = d
			d.points = append(d.points, p)
		}
		devs = append(devs, d)
	}
	for _, d := range devs {
		for _, g := range groups {
			g.blocks = append(g.blocks, planBlocks(d, g.name)...)
		}
	}
	return groups, devs, nil
}
