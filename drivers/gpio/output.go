package gpio

import (
	"context"
	"fmt"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

// OutputOptions are the "gpio" output driver's settings: one line driven
// on and off (a relay driver transistor, an LED).
type OutputOptions struct {
	// Chip is the GPIO chip: gpiochip0 or /dev/gpiochip0. Required.
	Chip string `yaml:"chip"`
	// Line is the line offset. Required.
	Line *int `yaml:"line"`
	// ActiveLow: on drives the line low (relay boards that switch on low).
	// Default: false.
	ActiveLow bool `yaml:"active_low"`
}

// Output drives one GPIO line. The line is requested on first use (as off
// unless that use is on) and held until Close.
type Output struct {
	chip   string
	offset int
	cfg    LineConfig
	open   func(string) (Chip, error)

	mu sync.Mutex
	c  Chip
	l  Line
}

// NewOutput builds the output from its options; it opens nothing.
func NewOutput(env edge.Env, opts edge.Options) (*Output, error) {
	var o OutputOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Chip == "" {
		return nil, opts.Errorf("chip", "chip is required (gpiochip0)")
	}
	if o.Line == nil || *o.Line < 0 || *o.Line > 511 {
		return nil, opts.Errorf("line", "line offset is required, 0..511")
	}
	return &Output{chip: o.Chip, offset: *o.Line, cfg: LineConfig{ActiveLow: o.ActiveLow, Output: true}, open: OpenChip}, nil
}

// Apply switches the line for OpSet.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	if op.Kind != edge.OpSet {
		return fmt.Errorf("gpio output: %s: %w", op.Kind, edge.ErrUnsupported)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.l == nil {
		c, err := o.open(o.chip)
		if err != nil {
			return err
		}
		cfg := o.cfg
		cfg.Initial = op.On
		l, err := c.RequestLine(o.offset, cfg, nil)
		if err != nil {
			c.Close()
			return err
		}
		o.c, o.l = c, l
		return nil
	}
	if err := o.l.SetValue(op.On); err != nil {
		o.closeLocked() // request it again next time
		return fmt.Errorf("gpio output: set line %d of %s: %w", o.offset, o.chip, err)
	}
	return nil
}

// Close releases the line.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closeLocked()
	return nil
}

func (o *Output) closeLocked() {
	if o.l != nil {
		o.l.Close()
		o.c.Close()
		o.l, o.c = nil, nil
	}
}

var (
	_ edge.Output = (*Output)(nil)
	_ edge.Closer = (*Output)(nil)
)
