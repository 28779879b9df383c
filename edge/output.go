package edge

import (
	"context"
	"errors"
	"time"
)

// OpKind is what an output is asked to do.
type OpKind string

const (
	// OpSet switches a binary output (relay, GPIO line, coil, DTR/RTS) on or off.
	OpSet OpKind = "set"
	// OpSend writes text: a voice module's track command, an LED sign's
	// message, an SMS body. The output renders it with its own template.
	OpSend OpKind = "send"
	// OpPulse is OpSet on, then off after Duration. Outputs never see it:
	// the core turns it into two OpSets and keeps the deadline durable, so
	// the "off" happens even across a restart.
	OpPulse OpKind = "pulse"
)

// Op is one command to one output.
type Op struct {
	Kind     OpKind            `json:"kind"`
	On       bool              `json:"on,omitempty"`
	Duration time.Duration     `json:"duration,omitempty"`
	Text     string            `json:"text,omitempty"`
	To       []string          `json:"to,omitempty"`   // SMS recipients; empty means the output's default list
	Vars     map[string]string `json:"vars,omitempty"` // template variables: track, device, location, message ...
}

// Output drives one named output of the compound. Apply returns when the
// device has accepted the command, or with the reason it did not. It must
// honour ctx: the caller bounds every call with a timeout.
type Output interface {
	Apply(ctx context.Context, op Op) error
}

// ErrUnsupported is returned by an output asked for an Op it cannot do.
var ErrUnsupported = errors.New("operation not supported by this output")

// Closer is implemented by drivers and outputs that hold resources.
type Closer interface {
	Close() error
}

// Runner is implemented by outputs that need a goroutine of their own (an
// SMS modem's queue). The gateway runs it until ctx ends.
type Runner interface {
	Run(ctx context.Context) error
}

// ActionTimeouter is implemented by outputs that need longer than the
// action runner's default bound for one command: a TTS module finishing a
// long text before the next, a modem trying several recipients. The
// runner bounds each Apply of such an output by its ActionTimeout.
type ActionTimeouter interface {
	ActionTimeout() time.Duration
}
