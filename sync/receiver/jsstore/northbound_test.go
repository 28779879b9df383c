package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/internal/natsnode"
	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
)

// Every stored event reaches the northbound stream once, as JSON, on the
// subject of its place, gateway and kind; a projector restarted from
// scratch (its consumer deleted) publishes nothing twice.
func TestNorthbound(t *testing.T) {
	_, nc := natstest.Embedded(t)
	s := open(t, nc, Options{})
	addGW(t, s, "gw1", "putuo/caoyang/c012/cp07")
	s.StoreBatch("gw1", located(1, 1, 10, "cp07/3/2/301"), time.Now())
	js := s.JetStream()
	run := func() { projectUntil(t, js, 10, 15*time.Second) }
	run()
	// From scratch: the consumer goes, the projector runs again over the
	// same events; the stream's duplicate window drops the repeats.
	if err := js.DeleteConsumer(context.Background(), StreamEvents, NorthboundConsumer); err != nil {
		t.Fatal(err)
	}
	run()
	st, _ := js.Stream(context.Background(), StreamNorthbound)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 10 {
		t.Fatalf("northbound holds %d messages, want 10", info.State.Msgs)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), "edgegw.nb.putuo.caoyang.c012.cp07.>")
	if err != nil {
		t.Fatal(err)
	}
	var ev receiver.StoredEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Gateway != "gw1" {
		t.Fatalf("last message %s: %v", m.Data, err)
	}
	// The schema of docs/central.md: the full path and the device's levels.
	var doc map[string]any
	json.Unmarshal(m.Data, &doc)
	for k, want := range map[string]string{"path": "putuo/caoyang/c012/cp07/3/2/301", "building": "3", "unit": "2", "household": "301"} {
		if doc[k] != want {
			t.Errorf("northbound %s: got %v, want %q", k, doc[k], want)
		}
	}
	if e, _ := doc["event"].(map[string]any); e["loc"] != "cp07/3/2/301" {
		t.Errorf("northbound event.loc: got %v, want %q", e["loc"], "cp07/3/2/301")
	}
	we, _ := ev.Decode()
	if m.Header.Get(jetstream.MsgIDHeader) != "gw1/1/10" || m.Subject != "edgegw.nb.putuo.caoyang.c012.cp07.gw1."+string(we.Kind) {
		t.Errorf("subject %s, id %s", m.Subject, m.Header.Get(jetstream.MsgIDHeader))
	}
}

// BenchmarkNorthbound: events projected per second on an embedded node
// (sync always), 5,000-event batches as the uplink sends a backlog.
func BenchmarkNorthbound(b *testing.B) {
	_, nc := natstest.Embedded(b)
	s := open(b, nc, Options{})
	addGW(b, s, "gw1", "putuo/caoyang/c012/cp07")
	const batch = 5000
	for i := 0; i < b.N; i++ {
		s.StoreBatch("gw1", located(1, uint64(i*batch+1), batch, "cp07/3/2/301"), time.Now())
	}
	js := s.JetStream()
	b.ResetTimer()
	want := uint64(b.N * batch)
	projectUntil(b, js, want, 10*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "events/s")
}

// A single node's northbound stream that lost its tail (as after a power
// cut: it is persisted asynchronously) while the projector's consumer had
// acknowledged those batches: on start the projector goes back to the
// batch its last northbound message came from, and every event is in the
// stream once.
func TestNorthboundRecoversALostTail(t *testing.T) {
	dir := t.TempDir()
	start := func() (*natsnode.Node, *nats.Conn, *Store) {
		n, err := natsnode.Start(natsnode.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := n.Connect()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := natsnode.Ready(ctx, nc, nil); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, Options{Conn: nc})
		if err != nil {
			t.Fatal(err)
		}
		return n, nc, s
	}
	project := func(s *Store, want uint64) { t.Helper(); projectUntil(t, s.JetStream(), want, 20*time.Second) }
	n, nc, s := start()
	addGW(t, s, "gw1", "putuo/caoyang/c012/cp07")
	for b := 0; b < 3; b++ {
		if _, _, err := s.StoreBatch("gw1", located(1, uint64(b*10+1), 10, "cp07/3/2/301"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	project(s, 30)
	// The tail is lost: the last batch and part of the second.
	nb, _ := s.JetStream().Stream(context.Background(), StreamNorthbound)
	for seq := uint64(15); seq <= 30; seq++ {
		if err := nb.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	nc.Close()
	n.Close()

	n, nc, s = start()
	defer func() { s.Close(); nc.Close(); n.Close() }()
	project(s, 30)
	nb, _ = s.JetStream().Stream(context.Background(), StreamNorthbound)
	info, _ := nb.Info(context.Background())
	ids := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := nb.GetMsg(context.Background(), seq)
		if err != nil {
			continue // deleted
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	for i := 1; i <= 30; i++ {
		if id := fmt.Sprintf("gw1/1/%d", i); ids[id] != 1 {
			t.Errorf("event %s is in the northbound stream %d times, want once", id, ids[id])
		}
	}
}

// projectUntil runs the northbound projector until its stream holds want
// messages, and fails when the projector stops or within passes first.
func projectUntil(t testing.TB, js jetstream.JetStream, want uint64, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Northbound(ctx, js, 1, time.Hour, nil) }()
	defer func() { cancel(); <-done }()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := js.Stream(context.Background(), StreamNorthbound); err == nil {
			if info, _ := st.Info(context.Background()); info != nil && info.State.Msgs >= want {
				return
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the projector stopped: %v", err)
		case <-deadline.C:
			t.Fatalf("the northbound stream did not reach %d messages within %v", want, within)
		case <-tick.C:
		}
	}
}
