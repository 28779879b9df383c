//go:build !windows

package update

import (
	"context"
	"os/exec"
	"syscall"
)

// prepareStop arranges how a child is asked to stop: SIGTERM, which
// `edgegw service run` drains on.
func prepareStop(cmd *exec.Cmd) (func() error, error) {
	setParentDeath(cmd)
	return func() error { return cmd.Process.Signal(syscall.SIGTERM) }, nil
}

// ChildContext is ctx in a child: on Unix the loader's SIGTERM already
// reaches it through the service's own signal handling.
func ChildContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// afterStart: on Linux the kernel's parent-death signal already covers
// an orphaned child (setParentDeath).
func afterStart(*exec.Cmd) error { return nil }
