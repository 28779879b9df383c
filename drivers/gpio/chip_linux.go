//go:build linux

package gpio

import (
	"fmt"

	"github.com/warthog618/go-gpiocdev"
)

// OpenChip opens a GPIO chip by name ("gpiochip0") or path
// ("/dev/gpiochip0") through the GPIO character device.
func OpenChip(name string) (Chip, error) {
	c, err := gpiocdev.NewChip(name, gpiocdev.WithConsumer("edgegw"))
	if err != nil {
		return nil, fmt.Errorf("open GPIO chip %q: %w", name, err)
	}
	return &cdevChip{c: c}, nil
}

type cdevChip struct{ c *gpiocdev.Chip }

func (c *cdevChip) RequestLine(offset int, cfg LineConfig, handler func(LineEvent)) (Line, error) {
	var opts []gpiocdev.LineReqOption
	if cfg.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	switch cfg.Bias {
	case BiasPullUp:
		opts = append(opts, gpiocdev.WithPullUp)
	case BiasPullDown:
		opts = append(opts, gpiocdev.WithPullDown)
	case BiasDisabled:
		opts = append(opts, gpiocdev.WithBiasDisabled)
	}
	if cfg.Output {
		v := 0
		if cfg.Initial {
			v = 1
		}
		opts = append(opts, gpiocdev.AsOutput(v))
	} else {
		opts = append(opts, gpiocdev.AsInput)
		if cfg.Debounce > 0 {
			opts = append(opts, gpiocdev.WithDebounce(cfg.Debounce))
		}
		if handler != nil {
			opts = append(opts, gpiocdev.WithBothEdges, gpiocdev.WithEventHandler(func(e gpiocdev.LineEvent) {
				// Edges are logical: rising is inactive to active, with
				// active-low applied by the kernel.
				handler(LineEvent{Offset: e.Offset, Active: e.Type == gpiocdev.LineEventRisingEdge, Seq: e.LineSeqno})
			}))
		}
	}
	l, err := c.c.RequestLine(offset, opts...)
	if err != nil {
		return nil, fmt.Errorf("request GPIO line %d of %s: %w", offset, c.c.Name, err)
	}
	return cdevLine{l}, nil
}

func (c *cdevChip) Close() error { return c.c.Close() }

type cdevLine struct{ l *gpiocdev.Line }

func (l cdevLine) Value() (bool, error) {
	v, err := l.l.Value()
	return v == 1, err
}

func (l cdevLine) SetValue(active bool) error {
	v := 0
	if active {
		v = 1
	}
	return l.l.SetValue(v)
}

func (l cdevLine) Close() error { return l.l.Close() }
