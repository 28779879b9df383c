// Package exporttest runs what the exporters' tests need: a real embedded
// JetStream node with the events stream, in a directory that survives a
// restart of the "central".
package exporttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgegw/edgegw/internal/natsnode"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// Central is an embedded node and the store on it.
type Central struct {
	Node  *natsnode.Node
	Conn  *nats.Conn
	Store *jsstore.Store
}

// Open starts a node on dir (t.TempDir(), or the dir of a central closed
// before: a restart) and opens the store; Close (or the test's end)
// stops both.
func Open(t testing.TB, dir string) *Central {
	t.Helper()
	n, err := natsnode.Start(natsnode.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := n.Connect()
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	c := &Central{Node: n, Conn: nc}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsnode.Ready(ctx, nc, nil); err != nil {
		t.Fatal(err)
	}
	if c.Store, err = jsstore.Open(ctx, jsstore.Options{Conn: nc}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Close stops the store, the connection and the node (again is a no-op).
func (c *Central) Close() {
	if c.Store != nil {
		c.Store.Close()
		c.Store = nil
	}
	if c.Conn != nil {
		c.Conn.Close()
		c.Conn = nil
	}
	if c.Node != nil {
		c.Node.Close()
		c.Node = nil
	}
}

// AddGateway registers gateway id at place.
func (c *Central) AddGateway(t testing.TB, id, place string) {
	t.Helper()
	if _, err := receiver.AddPlacedGateway(c.Store, id, place, receiver.SystemClock().Now()); err != nil {
		t.Fatal(err)
	}
}

// Put stores events as gateway gw's batch.
func (c *Central) Put(t testing.TB, gw string, events []wire.Event) {
	t.Helper()
	if _, _, err := c.Store.StoreBatch(gw, events, receiver.SystemClock().Now()); err != nil {
		t.Fatal(err)
	}
}

// T0 is the events' time.
var T0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// Locations are the devices' locations in the events of Readings and
// Alert; temp-2 has none (an older gateway's).
var Locations = map[string]string{"temp-0": "cp07/3/2/301", "temp-1": "cp07/5", "temp-2": "", "smoke-1": "cp07/3/2/302"}

// Readings returns n reading events from seq from.
func Readings(epoch, from uint64, n int) []wire.Event {
	ev := make([]wire.Event, n)
	for i := range ev {
		dev := fmt.Sprintf("temp-%d", i%3)
		ev[i] = wire.Event{Epoch: epoch, Seq: from + uint64(i), Time: T0.Add(time.Duration(i) * time.Millisecond),
			ClockTrusted: true, Kind: wire.KindReading, Device: dev, Point: "temperature",
			Value: 20 + float64(i%50)/10, Unit: "°C", Location: Locations[dev]}
	}
	return ev
}

// Alert returns an alert event.
func Alert(epoch, seq uint64, state string) wire.Event {
	return wire.Event{Epoch: epoch, Seq: seq, Time: T0, ClockTrusted: true, Kind: wire.KindAlert, Priority: 1,
		Device: "smoke-1", Location: Locations["smoke-1"], Text: "smoke in unit 3", Alert: &wire.Alert{ID: "smoke-1-7", Rule: "smoke", State: state,
			Severity: "critical", Message: "smoke in unit 3"}}
}

// WaitFor waits until cond holds, checking it again on every tick of a
// short ticker, and fails the test when within has passed first: the one
// bounded wait of the exporters' tests (the brokers, servers and databases
// they wait for give no signal of their own).
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", within, what)
		case <-tick.C:
		}
	}
}
