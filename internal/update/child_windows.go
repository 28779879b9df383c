//go:build windows

package update

import (
	"context"
	"io"
	"os"
	"os/exec"
)

// prepareStop arranges how a child is asked to stop. Windows has no
// SIGTERM for a console-less service child: the loader holds the child's
// stdin and closes it, and the child (ChildContext) drains on EOF.
func prepareStop(cmd *exec.Cmd) (func() error, error) {
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	return w.Close, nil
}

// ChildContext is ctx in a child, cancelled when the loader closes the
// child's stdin.
func ChildContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, cancel
}
