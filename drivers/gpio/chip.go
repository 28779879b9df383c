package gpio

import (
	"errors"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Bias is a line's internal pull resistor.
type Bias string

// Biases.
const (
	BiasAsIs     Bias = ""          // leave as the board set it
	BiasPullUp   Bias = "pull-up"   // a dry contact to ground: open reads high
	BiasPullDown Bias = "pull-down" // a dry contact to 3.3V
	BiasDisabled Bias = "disabled"
)

// ParseBias checks a bias name.
func ParseBias(s string) (Bias, error) {
	switch b := Bias(s); b {
	case BiasAsIs, BiasPullUp, BiasPullDown, BiasDisabled:
		return b, nil
	case "as-is":
		return BiasAsIs, nil
	}
	return "", edge.Msgf("unknown bias %q (want pull-up, pull-down, disabled or as-is)", s)
}

// LineConfig is how a line is requested.
type LineConfig struct {
	// ActiveLow inverts the line: low is active (a contact pulling an
	// input with pull-up to ground reads active when closed).
	ActiveLow bool
	Bias      Bias
	// Debounce is the kernel's debounce period for input edges.
	Debounce time.Duration
	// Output requests the line as an output, starting at Initial.
	Output  bool
	Initial bool
}

// LineEvent is an edge on an input line, in logical terms (active-low
// already applied).
type LineEvent struct {
	Offset int
	Active bool
	// Seq is the kernel's sequence number of the event on its line (0 when
	// the kernel does not give one); a gap means events were lost.
	Seq uint32
}

// Line is a requested line.
type Line interface {
	// Value is the line's logical value: true when active.
	Value() (bool, error)
	SetValue(active bool) error
	Close() error
}

// Chip is a GPIO chip. The real one is the Linux GPIO character device
// (go-gpiocdev); tests use a fake, as the kernel here has no gpio-sim.
type Chip interface {
	// RequestLine requests one line. For inputs, handler is called (from
	// another goroutine) on each edge.
	RequestLine(offset int, cfg LineConfig, handler func(LineEvent)) (Line, error)
	Close() error
}

// ErrNotSupported is returned by OpenChip where there is no GPIO
// character device.
var ErrNotSupported = errors.New("GPIO character device is only available on Linux")
