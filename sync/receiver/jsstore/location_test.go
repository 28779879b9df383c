package jsstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// located returns n readings of devices at loc, seqs from.
func located(epoch, from uint64, n int, loc string) []wire.Event {
	ev := readings(epoch, from, n)
	for i := range ev {
		ev[i].Location = loc
	}
	return ev
}

// Two gateways in compound cp07 (gw-a serves buildings 3 and 5, gw-b part
// of building 3) and one in cp08 with a building 3 too: a scope down to a
// building, unit or household takes exactly its events, across the
// compound's gateways, in queries, consumers and tails.
func TestScopeBelowCompound(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	const cp07, cp08 = "putuo/caoyang/c012/cp07", "putuo/caoyang/c012/cp08"
	addGW(t, s, "gw-a", cp07)
	addGW(t, s, "gw-b", cp07)
	addGW(t, s, "gw-c", cp08)
	now := time.Now()
	mixed := append(located(1, 1, 4, "cp07/3/2/301"), located(1, 5, 3, "cp07/5/1/101")...)
	mixed = append(mixed, located(1, 8, 2, "cp07/3/1/102")...)
	mixed = append(mixed, readings(1, 10, 1)...) // an old gateway's event: no location
	for _, b := range []struct {
		gw  string
		evs []wire.Event
	}{{"gw-a", mixed}, {"gw-b", located(1, 1, 5, "east/3/2/302")}, {"gw-c", located(1, 1, 6, "cp08/3/2/301")}} {
		if st, _, err := s.StoreBatch(b.gw, b.evs, now); err != nil || st != len(b.evs) {
			t.Fatalf("%s: stored %d, %v", b.gw, st, err)
		}
	}
	count := func(q receiver.Query) (map[string]int, []receiver.StoredEvent) {
		t.Helper()
		byPath := map[string]int{}
		var evs []receiver.StoredEvent
		q.Limit = 3 // several pages: the cursor must skip what the scope leaves out
		for {
			page, next, err := s.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return byPath, evs
			}
			for _, ev := range page {
				byPath[ev.Gateway+" "+ev.Path]++
			}
			evs = append(evs, page...)
			q.After = next
		}
	}
	for _, tc := range []struct {
		scope, gw string
		want      map[string]int
	}{
		{cp07 + "/3", "", map[string]int{"gw-a " + cp07 + "/3/2/301": 4, "gw-a " + cp07 + "/3/1/102": 2, "gw-b " + cp07 + "/3/2/302": 5}},
		{cp07 + "/3", "gw-a", map[string]int{"gw-a " + cp07 + "/3/2/301": 4, "gw-a " + cp07 + "/3/1/102": 2}},
		{cp07 + "/3/2", "", map[string]int{"gw-a " + cp07 + "/3/2/301": 4, "gw-b " + cp07 + "/3/2/302": 5}},
		{cp07 + "/3/2/301", "", map[string]int{"gw-a " + cp07 + "/3/2/301": 4}},
		{cp07 + "/5", "", map[string]int{"gw-a " + cp07 + "/5/1/101": 3}},
		{cp08 + "/3", "", map[string]int{"gw-c " + cp08 + "/3/2/301": 6}},
		{cp07 + "/9", "", map[string]int{}},
		{cp07, "gw-a", map[string]int{"gw-a " + cp07 + "/3/2/301": 4, "gw-a " + cp07 + "/5/1/101": 3, "gw-a " + cp07 + "/3/1/102": 2, "gw-a " + cp07: 1}},
	} {
		got, evs := count(receiver.Query{Scope: tc.scope, Gateway: tc.gw})
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("scope %s gateway %q: got %v, want %v", tc.scope, tc.gw, got, tc.want)
		}
		for _, ev := range evs {
			we, _ := ev.Decode()
			if ev.Building == "" || ev.Unit == "" || ev.Household == "" || we.Location == "" {
				if tc.scope != cp07 {
					t.Errorf("scope %s: event %+v without its building/unit/household", tc.scope, ev)
				}
			}
		}
	}
	if _, _, err := s.Query(receiver.Query{Scope: cp07 + "/3/2/301/x"}); err == nil {
		t.Error("a scope of 8 levels: got no error")
	}

	// A consumer of building 5 gets its events only; messages without any
	// are acknowledged without the handler.
	got := make(chan receiver.StoredEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Consume(ctx, s.JetStream(), ConsumerConfig{Name: "b5", Scopes: []string{cp07 + "/5"}}, func(_ context.Context, b *Batch, _ uint64) error {
		for _, ev := range b.Events {
			got <- ev
		}
		return nil
	})
	for i := 0; i < 3; i++ {
		select {
		case ev := <-got:
			if ev.Path != cp07+"/5/1/101" || ev.Building != "5" || ev.Unit != "1" || ev.Household != "101" {
				t.Errorf("consumer of building 5: got %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("consumer of building 5: got %d events, want 3", i)
		}
	}
	// The next event it sees is the one stored after: nothing else of the compound.
	s.StoreBatch("gw-b", located(1, 6, 1, "east/5/2/202"), time.Now())
	select {
	case ev := <-got:
		if ev.Gateway != "gw-b" || ev.Path != cp07+"/5/2/202" {
			t.Errorf("consumer of building 5: got %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consumer of building 5: no event of gw-b")
	}

	// A tail of one household.
	tailed := make(chan *Batch, 10)
	go Tail(ctx, s.JetStream(), []string{cp08 + "/3/2/301"}, now.Add(-time.Hour), func(b *Batch) error {
		tailed <- b
		return nil
	})
	select {
	case b := <-tailed:
		if b.Gateway != "gw-c" || len(b.Events) != 6 {
			t.Errorf("tail of a household: got %s with %d events, want gw-c with 6", b.Gateway, len(b.Events))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail of a household: nothing")
	}
}
