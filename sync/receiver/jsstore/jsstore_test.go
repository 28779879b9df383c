package jsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

func open(t testing.TB, nc *nats.Conn, o Options) *Store {
	t.Helper()
	o.Conn = nc
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readings(epoch, from uint64, n int) []wire.Event {
	ev := make([]wire.Event, n)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for i := range ev {
		ev[i] = wire.Event{Epoch: epoch, Seq: from + uint64(i), Time: t0.Add(time.Duration(i) * time.Millisecond),
			ClockTrusted: true, Kind: wire.KindReading, Device: fmt.Sprintf("temp-%d", i%7), Point: "temperature",
			Value: 20 + float64(i%50)/10, Unit: "°C"}
	}
	return ev
}

func addGW(t testing.TB, s *Store, id, place string) {
	t.Helper()
	if _, err := receiver.AddPlacedGateway(s, id, place, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// all reads every event of q back, checking each (gateway, epoch, seq) is there once.
func all(t *testing.T, s *Store, q receiver.Query) map[string]int {
	t.Helper()
	seen := map[string]int{}
	q.Limit = 1000
	for {
		evs, next, err := s.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			e, err := evs[i].Decode()
			if err != nil {
				t.Fatal(err)
			}
			seen[fmt.Sprintf("%s/%d/%d", evs[i].Gateway, e.Epoch, e.Seq)]++
		}
		if len(evs) == 0 {
			return seen
		}
		q.After, q.Since = next, time.Time{}
	}
}

func TestExactlyOnce(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw.one_1", "putuo/caoyang/c012/cp07")
	now := time.Now()

	// A batch, its retry, then the alert lane ahead of the readings.
	b1 := readings(7, 1, 100)
	if st, d, err := s.StoreBatch("gw.one_1", b1, now); err != nil || st != 100 || d != 0 {
		t.Fatalf("first: got %d stored %d dups %v, want 100 0 nil", st, d, err)
	}
	if st, d, err := s.StoreBatch("gw.one_1", b1, now); err != nil || st != 0 || d != 100 {
		t.Fatalf("retry: got %d stored %d dups %v, want 0 100 nil", st, d, err)
	}
	alert := readings(7, 141, 1)
	alert[0].Kind, alert[0].Alert = wire.KindAlert, &wire.Alert{ID: "door/1", Rule: "door", State: wire.AlertFiring, Severity: "critical"}
	if st, _, err := s.StoreBatch("gw.one_1", alert, now); err != nil || st != 1 {
		t.Fatalf("alert: got %d %v", st, err)
	}
	// The readings behind it, and a multi-epoch batch with a duplicate inside.
	b2 := append(readings(7, 101, 40), readings(8, 1, 10)...)
	b2 = append(b2, b2[3])
	if st, d, err := s.StoreBatch("gw.one_1", b2, now); err != nil || st != 50 || d != 1 {
		t.Fatalf("b2: got %d stored %d dups %v, want 50 1 nil", st, d, err)
	}
	// A second receiver (its own cache) with the same batch stores nothing.
	s2 := open(t, nc, Options{})
	if st, d, err := s2.StoreBatch("gw.one_1", b2[:50], now); err != nil || st != 0 || d != 50 {
		t.Fatalf("other receiver: got %d stored %d dups %v, want 0 50 nil", st, d, err)
	}
	seen := all(t, s, receiver.Query{Scope: "putuo/caoyang"})
	if len(seen) != 151 {
		t.Errorf("got %d events read back, want 151", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
	}
	if got := all(t, s, receiver.Query{Scope: "putuo/other"}); len(got) != 0 {
		t.Errorf("other street: got %d events, want 0", len(got))
	}
	if got := all(t, s, receiver.Query{Gateway: "gw.one_1"}); len(got) != 151 {
		t.Errorf("by gateway: got %d events, want 151", len(got))
	}
	al, err := s.ActiveAlerts("")
	if err != nil || len(al) != 1 || al[0].Alert.ID != "door/1" {
		t.Errorf("alerts: got %+v %v", al, err)
	}
	evs, _, err := s.Events("", 0, 1)
	if err != nil || len(evs) != 1 || evs[0].Path != "putuo/caoyang/c012/cp07" {
		t.Errorf("path: got %+v %v", evs, err)
	}
}

// Concurrent receivers deliver the same batches of one (gateway, epoch) in
// shuffled orders: every event is stored once.
func TestConcurrentReceivers(t *testing.T) {
	_, nc := natstest.Embedded(t)
	stores := []*Store{open(t, nc, Options{}), open(t, nc, Options{}), open(t, nc, Options{}), open(t, nc, Options{})}
	addGW(t, stores[0], "gw1", "putuo/caoyang")
	var batches [][]wire.Event
	for i := range 50 {
		batches = append(batches, readings(1, uint64(i*100+1), 100))
	}
	var wg gosync.WaitGroup
	var mu gosync.Mutex
	total := 0
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range rand.Perm(len(batches)) {
				st, _, err := s.StoreBatch("gw1", batches[i], time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += st
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 5000 {
		t.Errorf("stored %d in all, want 5000", total)
	}
	seen := all(t, stores[0], receiver.Query{})
	if len(seen) != 5000 {
		t.Errorf("read back %d, want 5000", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", k, n)
		}
	}
}

// An answer lost after the publish (the outcome unknown to the writer):
// the re-read finds the events stored and nothing is stored twice.
func TestLostAnswer(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw1", "")
	lose := true
	s.afterPublish = func(subj string, err error) {
		if lose && err == nil {
			lose = false
			s.dropState(subj) // as if the answer never came: the next attempt re-reads
		}
	}
	b := readings(3, 1, 20)
	if st, _, err := s.StoreBatch("gw1", b, time.Now()); err != nil || st != 20 {
		t.Fatalf("got %d %v", st, err)
	}
	if st, d, err := s.StoreBatch("gw1", b, time.Now()); err != nil || st != 0 || d != 20 {
		t.Fatalf("retry: got %d %d %v", st, d, err)
	}
	if got := all(t, s, receiver.Query{}); len(got) != 20 {
		t.Errorf("got %d, want 20", len(got))
	}
}

func TestDownlink(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw1", "putuo")
	if err := s.AddGateway(receiver.Gateway{ID: "gw1"}); !errors.Is(err, receiver.ErrExists) {
		t.Errorf("add twice: got %v, want ErrExists", err)
	}
	if _, err := s.Gateway("nope"); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("unknown: got %v, want ErrNotFound", err)
	}
	c, err := s.AddCommand("gw1", wire.Command{Type: wire.CmdSendDiagnostics})
	if err != nil || c.ID == 0 {
		t.Fatalf("add command: %v %v", c, err)
	}
	cs, err := s.Commands("gw1", 0, 10, true)
	if err != nil || len(cs) != 1 || cs[0].Command.ID != c.ID {
		t.Fatalf("commands: %+v %v", cs, err)
	}
	first, err := s.PutResult("gw1", c.ID, wire.CommandResult{OK: true, Attachment: make([]byte, 3<<20)})
	if err != nil || !first {
		t.Fatalf("result: %v %v", first, err)
	}
	if first, _ := s.PutResult("gw1", c.ID, wire.CommandResult{}); first {
		t.Error("second result: got first")
	}
	if _, err := s.PutResult("gw2", c.ID, wire.CommandResult{}); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("other gateway's command: got %v", err)
	}
	if b, err := s.Attachment("gw1", c.ID); err != nil || len(b) != 3<<20 {
		t.Errorf("attachment: %d %v", len(b), err)
	}
	if cs, _ := s.Commands("gw1", 0, 10, true); len(cs) != 0 {
		t.Errorf("pending after result: %d", len(cs))
	}
	if err := s.PutConfig("gw1", wire.ConfigBundle{Version: "3", YAML: "x: 1"}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Config("gw1"); err != nil || b.Version != "3" {
		t.Errorf("config: %v %v", b, err)
	}
	if err := s.PutHeartbeat("gw1", wire.Heartbeat{BacklogEvents: 5, SkewKnown: true, ClockSkewMillis: 7}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.StoreBatch("gw1", readings(1, 1, 10), time.Now())
	s.flushStatsOnce(context.Background())
	gws, err := s.Gateways()
	if err != nil || len(gws) != 1 || gws[0].Events != 10 || gws[0].ConfigVersion != "3" || gws[0].ClockSkewMillis != 7 || gws[0].Place != "putuo/_/_/_" {
		t.Errorf("gateways: %+v %v", gws, err)
	}
}

func TestTokens(t *testing.T) {
	for _, id := range []string{"gw1", "gw.compound_7", "a_5F", "_._", "-", "A.b-c_d"} {
		tok := GatewayToken(id)
		back, err := GatewayFromToken(tok)
		if err != nil || back != id {
			t.Errorf("%q → %q → %q %v", id, tok, back, err)
		}
	}
	subj := Subject("putuo/caoyang/c012/cp07", "gw.x", 42)
	if subj != "edgegw.ev.putuo.caoyang.c012.cp07.gw_2Ex.42" {
		t.Errorf("subject: got %s", subj)
	}
	p, g, e, err := ParseSubject(subj)
	if err != nil || p != "putuo/caoyang/c012/cp07" || g != "gw.x" || e != 42 {
		t.Errorf("parse: %s %s %d %v", p, g, e, err)
	}
	for _, c := range []struct{ scope, gw, want string }{
		{"", "", "edgegw.ev.>"},
		{"putuo/caoyang", "", "edgegw.ev.putuo.caoyang.>"},
		{"putuo", "gw1", "edgegw.ev.putuo.*.*.*.gw1.*"},
	} {
		if got, err := ScopeFilter(c.scope, c.gw); err != nil || got != c.want {
			t.Errorf("ScopeFilter(%q, %q): got %s %v, want %s", c.scope, c.gw, got, err, c.want)
		}
	}
}

func FuzzGatewayToken(f *testing.F) {
	f.Add("gw._x")
	f.Fuzz(func(t *testing.T, id string) {
		if !receiver.ValidGatewayID(id) {
			return
		}
		back, err := GatewayFromToken(GatewayToken(id))
		if err != nil || back != id {
			t.Fatalf("%q: got %q %v", id, back, err)
		}
	})
}

func TestFiles(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw1", "putuo")
	pic := bytes.Repeat([]byte{0xff, 0xd8, 1, 2}, 100<<10)
	if err := s.PutFile("gw1", "cam_1.jpg", pic); err != nil {
		t.Fatal(err)
	}
	if b, err := s.File("gw1", "cam_1.jpg"); err != nil || !bytes.Equal(b, pic) {
		t.Errorf("got %d bytes, %v, want the %d put", len(b), err, len(pic))
	}
	if _, err := s.File("gw2", "cam_1.jpg"); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("other gateway: got %v, want ErrNotFound", err)
	}
	if _, err := s.File("gw1", "nope.jpg"); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("missing: got %v, want ErrNotFound", err)
	}
}
