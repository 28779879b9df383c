package jsstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgegw/edgegw/internal/natsnode"
	"github.com/edgegw/edgegw/sync/receiver"
)

// JetStream gone (here: the server stopped; in a cluster: no leader for a
// few seconds) answers ErrUnavailable within the batch bound, never hangs.
func TestStallIsBounded(t *testing.T) {
	n, err := natsnode.Start(natsnode.Config{Dir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(n.Server().ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s := open(t, nc, Options{BatchTimeout: 2 * time.Second, OpTimeout: 500 * time.Millisecond})
	addGW(t, s, "gw1", "")
	if _, _, err := s.StoreBatch("gw1", readings(1, 1, 10), time.Now()); err != nil {
		t.Fatal(err)
	}
	n.Close()
	start := time.Now()
	_, _, err = s.StoreBatch("gw1", readings(1, 11, 10), time.Now())
	if !errors.Is(err, receiver.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("answered after %s, want within the 2s bound (+ slack)", d)
	}
}
