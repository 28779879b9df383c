// Package natstest starts real NATS JetStream servers for tests: one
// embedded node in the test process, or a three-node cluster of processes.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgegw/edgegw/internal/natsnode"
)

// Embedded starts a single embedded node in t.TempDir() and returns an
// in-process connection; both are closed at the end of the test.
func Embedded(t testing.TB) (*natsnode.Node, *nats.Conn) {
	t.Helper()
	n, err := natsnode.Start(natsnode.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := n.Connect()
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsnode.Ready(ctx, nc, nil); err != nil {
		t.Fatal(err)
	}
	return n, nc
}
