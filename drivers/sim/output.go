package sim

import (
	"context"
	"log/slog"
	"sync"

	"github.com/edgegw/edgegw/edge"
)

func init() {
	edge.RegisterOutput(Name, NewOutput)
}

// OutputOptions are the "sim" output's settings: a simulated siren, voice
// module, LED sign or SMS modem that logs what it is asked to do.
type OutputOptions struct {
	// Kind is what it stands for, for the log: siren, voice, sign, sms.
	// Default: the output's name.
	Kind string `yaml:"kind"`
	// Fail makes every Apply fail with this message (to test action
	// failure handling). Default: "" (succeed).
	Fail string `yaml:"fail"`
}

// Output is a simulated output. It records the ops it applied.
type Output struct {
	name string
	log  *slog.Logger
	opts OutputOptions

	mu  sync.Mutex
	ops []edge.Op
	on  bool
}

// NewOutput is the "sim" output's factory.
func NewOutput(env edge.Env, opts edge.Options) (edge.Output, error) {
	var o OutputOptions
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Kind == "" {
		o.Kind = env.Name
	}
	log := env.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	return &Output{name: env.Name, log: log, opts: o}, nil
}

// Apply logs op and records it.
func (o *Output) Apply(ctx context.Context, op edge.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if op.Kind != edge.OpSet && op.Kind != edge.OpSend {
		return edge.ErrUnsupported
	}
	if o.opts.Fail != "" {
		return &failError{o.opts.Fail}
	}
	o.mu.Lock()
	o.ops = append(o.ops, op)
	if op.Kind == edge.OpSet {
		o.on = op.On
	}
	o.mu.Unlock()
	o.log.Info("simulated output", "kind", o.opts.Kind, "op", op.Kind, "on", op.On, "text", op.Text)
	return nil
}

// Ops returns the ops applied so far.
func (o *Output) Ops() []edge.Op {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]edge.Op(nil), o.ops...)
}

// On reports the last OpSet state.
func (o *Output) On() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.on
}

type failError struct{ msg string }

func (e *failError) Error() string { return "simulated failure: " + e.msg }

var _ edge.Output = (*Output)(nil)
