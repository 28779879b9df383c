package modbus

import (
	"errors"
	"fmt"

	"github.com/edgegw/edgegw/edge"
)

// NewWithOptions builds the input driver from options already decoded (a
// program that makes its config in code, the benchmark). Errors name the
// field but no file:line.
func NewWithOptions(env edge.Env, o Options) (*Driver, error) {
	return newDriver(env, &o, plainOptions{})
}

// plainOptions is an edge.Options without a file behind it.
type plainOptions struct{}

func (plainOptions) Decode(any) error {
	return errors.New("modbus: plain options cannot decode")
}

func (plainOptions) Errorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}
