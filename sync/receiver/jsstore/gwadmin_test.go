package jsstore

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
)

// waitGateway waits until s sees gateway id as ok says.
func waitGateway(t *testing.T, s *Store, what string, ok func(g receiver.Gateway) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := s.Gateway("gw.a_1")
		if err == nil && ok(g) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other receiver does not see %s: %+v %v", what, g, err)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// Two receivers on one JetStream: what one changes (move, rekey, disable,
// enable) the other sees within a moment, though it had the gateway
// cached; events keep the path and subject they were stored under, and a
// batch retried across the move is not stored again.
func TestUpdateGatewaySeenByEveryReceiver(t *testing.T) {
	_, nc := natstest.Embedded(t)
	a := open(t, nc, Options{})
	b := open(t, nc, Options{})
	const cp07, cp08 = "putuo/caoyang/c012/cp07", "putuo/caoyang/c012/cp08"
	addGW(t, a, "gw.a_1", cp07)
	now := time.Now()
	if st, _, err := b.StoreBatch("gw.a_1", readings(1, 1, 5), now); err != nil || st != 5 {
		t.Fatalf("stored %d, %v", st, err) // b has it cached now
	}
	if _, err := receiver.MoveGateway(a, "gw.a_1", cp08); err != nil {
		t.Fatal(err)
	}
	waitGateway(t, b, "the move", func(g receiver.Gateway) bool { return g.Place == cp08 })
	// A retry of the first batch with five new events: only those are stored.
	st, dups, err := b.StoreBatch("gw.a_1", readings(1, 1, 10), now)
	if err != nil || st != 5 || dups != 5 {
		t.Fatalf("after the move: stored %d, dups %d, %v; want 5 and 5", st, dups, err)
	}
	// Through a, whose state of the new subject is cached: still once.
	if st, dups, err := a.StoreBatch("gw.a_1", readings(1, 8, 5), now); err != nil || st != 2 || dups != 3 {
		t.Fatalf("through the other receiver: stored %d, dups %d, %v; want 2 and 3", st, dups, err)
	}
	// Moved back: the old subject's set is behind, the check across places is not.
	if _, err := receiver.MoveGateway(b, "gw.a_1", cp07); err != nil {
		t.Fatal(err)
	}
	waitGateway(t, a, "the move back", func(g receiver.Gateway) bool { return g.Place == cp07 })
	if st, dups, err := a.StoreBatch("gw.a_1", readings(1, 1, 13), now); err != nil || st != 1 || dups != 12 {
		t.Fatalf("moved back: stored %d, dups %d, %v; want 1 and 12", st, dups, err)
	}
	evs, _, err := a.Query(receiver.Query{Gateway: "gw.a_1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]uint64{}
	for _, se := range evs {
		e, _ := se.Decode()
		byPath[se.Path] = append(byPath[se.Path], e.Seq)
	}
	for _, p := range byPath {
		sort.Slice(p, func(i, j int) bool { return p[i] < p[j] })
	}
	if got, want := fmt.Sprint(byPath), fmt.Sprint(map[string][]uint64{cp07: {1, 2, 3, 4, 5, 13}, cp08: {6, 7, 8, 9, 10, 11, 12}}); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, scope := range []string{cp08} {
		got, _, err := a.Query(receiver.Query{Scope: scope, Limit: 100})
		if err != nil || len(got) != 7 {
			t.Errorf("scope %s: got %d events, %v; want 7 (the subject followed the move)", scope, len(got), err)
		}
	}

	k, err := receiver.RekeyGateway(a, "gw.a_1")
	if err != nil {
		t.Fatal(err)
	}
	waitGateway(t, b, "the new key", func(g receiver.Gateway) bool { return g.Key == k })
	if _, err := receiver.SetGatewayDisabled(b, "gw.a_1", true); err != nil {
		t.Fatal(err)
	}
	waitGateway(t, a, "disabled", func(g receiver.Gateway) bool { return g.Disabled })
	if gws, err := b.Gateways(); err != nil || len(gws) != 1 || !gws[0].Disabled || gws[0].Place != cp07 {
		t.Errorf("got %+v %v, want gw.a_1 disabled at %s", gws, err, cp07)
	}
	if _, err := receiver.SetGatewayDisabled(a, "gw.a_1", false); err != nil {
		t.Fatal(err)
	}
	waitGateway(t, b, "enabled", func(g receiver.Gateway) bool { return !g.Disabled && g.Key == k && g.Place == cp07 })
	if _, err := receiver.SetGatewayDisabled(a, "nope", true); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("unknown gateway: got %v, want ErrNotFound", err)
	}
}
