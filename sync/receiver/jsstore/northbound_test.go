package jsstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Northbound(ctx, js, 1, time.Hour, nil) }()
		deadline := time.After(15 * time.Second)
		for {
			st, err := js.Stream(context.Background(), StreamNorthbound)
			if err == nil {
				info, _ := st.Info(context.Background())
				if info != nil && info.State.Msgs >= 10 {
					break
				}
			}
			select {
			case <-deadline:
				t.Fatal("the northbound stream did not get the 10 events")
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel()
		<-done
	}
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
