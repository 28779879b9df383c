package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// withSignals returns a context cancelled by the first SIGINT/SIGTERM, so
// the gateway drains; a second signal aborts the process at once.
func withSignals(parent context.Context, stderr *os.File) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(ch)
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "\nedgegw: %v: shutting down (send again to abort)\n", s)
			cancel()
		case <-ctx.Done():
			return
		}
		s := <-ch
		fmt.Fprintf(stderr, "edgegw: %v again: aborting\n", s)
		os.Exit(130)
	}()
	return ctx, cancel
}
