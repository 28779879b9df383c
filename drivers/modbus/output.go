package modbus

import (
	"context"
	"fmt"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

// OutputOptions are the "modbus" output driver's settings: one coil or
// holding register of a slave (a relay of a relay board) switched by OpSet.
type OutputOptions struct {
	LineOptions `yaml:",inline"`
	TxOptions   `yaml:",inline"`
	// Slave is the Modbus address, 1..247. Required.
	Slave int `yaml:"slave"`
	// Table is coil or holding. Default: coil.
	Table string `yaml:"table"`
	// Address is the 0-based coil or register address. Required.
	Address int `yaml:"address"`
	// OnValue and OffValue are the register values written for on and off
	// (table holding only). Default: 1 and 0.
	OnValue  *int `yaml:"on_value"`
	OffValue int  `yaml:"off_value"`
	// Multiple writes with functions 15/16 instead of 5/6, for slaves that
	// only implement the multiple-write functions. Default: false.
	Multiple bool `yaml:"multiple"`
}

// Output switches one coil or register.
type Output struct {
	line    Line
	tx      Tx
	clock   edge.Clock
	slave   byte
	table   Table
	addr    uint16
	on, off uint16
	multi   bool

	mu      sync.Mutex
	m       Client
	release func()
}

// NewOutput builds the output from its options; it opens nothing.
func NewOutput(env edge.Env, opts edge.Options) (*Output, error) {
	var o OutputOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if err := o.LineOptions.validate(opts); err != nil {
		return nil, err
	}
	if err := o.TxOptions.validate(opts, ""); err != nil {
		return nil, err
	}
	if o.Slave < 1 || o.Slave > 247 {
		return nil, opts.Errorf("slave", "slave address %d out of range 1..247", o.Slave)
	}
	if o.Table == "" {
		o.Table = string(Coil)
	}
	t, err := ParseTable(o.Table)
	if err != nil || (t != Coil && t != Holding) {
		return nil, opts.Errorf("table", "table %q: an output writes a coil or a holding register", o.Table)
	}
	if o.Address < 0 || o.Address > 0xFFFF {
		return nil, opts.Errorf("address", "address %d out of range 0..65535", o.Address)
	}
	on := 1
	if o.OnValue != nil {
		on = *o.OnValue
	}
	if t == Coil && (o.OnValue != nil || o.OffValue != 0) {
		return nil, opts.Errorf("on_value", "on_value and off_value apply to holding registers; a coil is on or off")
	}
	for _, v := range []struct {
		f string
		v int
	}{{"on_value", on}, {"off_value", o.OffValue}} {
		if v.v < 0 || v.v > 0xFFFF {
			return nil, opts.Errorf(v.f, "%s %d out of range 0..65535", v.f, v.v)
		}
	}
	return &Output{line: o.line(), tx: o.TxOptions.over(defaultTx()), clock: env.Clock, slave: byte(o.Slave), table: t, addr: uint16(o.Address),
		on: uint16(on), off: uint16(o.OffValue), multi: o.Multiple}, nil
}

// Apply switches the coil or register for OpSet.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	if op.Kind != edge.OpSet {
		return fmt.Errorf("modbus output: %s: %w", op.Kind, edge.ErrUnsupported)
	}
	o.mu.Lock()
	if o.m == nil {
		m, release, err := acquireMaster(o.line, o.clock)
		if err != nil {
			o.mu.Unlock()
			return err
		}
		o.m, o.release = m, release
	}
	m := o.m
	o.mu.Unlock()
	var req PDU
	var err error
	switch {
	case o.table == Coil && o.multi:
		req, err = WriteMultipleCoils(o.addr, []bool{op.On})
	case o.table == Coil:
		req = WriteSingleCoil(o.addr, op.On)
	default:
		v := o.off
		if op.On {
			v = o.on
		}
		if o.multi {
			req, err = WriteMultipleRegisters(o.addr, []uint16{v})
		} else {
			req = WriteSingleRegister(o.addr, v)
		}
	}
	if err != nil {
		return err
	}
	if _, _, err := m.Do(ctx, o.slave, req, o.tx); err != nil {
		return fmt.Errorf("modbus output: slave %d %s %d: %w", o.slave, o.table, o.addr, err)
	}
	return nil
}

// Close releases the port.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.release != nil {
		o.release()
		o.m, o.release = nil, nil
	}
	return nil
}

var (
	_ edge.Output = (*Output)(nil)
	_ edge.Closer = (*Output)(nil)
)
