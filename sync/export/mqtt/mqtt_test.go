package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/export/exporttest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// broker is Debian's mosquitto, started by the test on a free port.
type broker struct {
	bin, conf, addr string
	cmd             *exec.Cmd
	log             bytes.Buffer
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed (scripts/setup.sh installs it)")
		}
		t.Skip("mosquitto not installed: apt-get install mosquitto (scripts/setup.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	// Persistence keeps the test subscriber's session (and its queued
	// messages) across the broker's restart; user root keeps mosquitto
	// from dropping to a user that cannot write the temp dir.
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nuser root\nlog_dest stderr\nlog_type error\n", port, dir)
	b := &broker{bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), addr: addr}
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("mosquitto:\n%s", b.log.String())
		}
	})
	return b
}

func (b *broker) start(t *testing.T) {
	t.Helper()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	b.cmd.Stderr = &b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mosquitto to listen", func() bool {
		c, err := net.Dial("tcp", b.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop ends the broker with SIGTERM: it saves its sessions.
func (b *broker) stop() {
	if b.cmd != nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
		b.cmd = nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	exporttest.WaitFor(t, 30*time.Second, what, cond)
}

// subscriber is the platform: a persistent session on /sys/#, QoS 1.
type subscriber struct {
	mu     gosync.Mutex
	seen   map[string]int // payload id -> times
	topics map[string]string
	bodies map[string]Payload
}

func subscribe(t *testing.T, addr string) *subscriber {
	s := &subscriber{seen: map[string]int{}, topics: map[string]string{}, bodies: map[string]Payload{}}
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("platform").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("/sys/#", 1, func(_ paho.Client, m paho.Message) {
				var p Payload
				if err := json.Unmarshal(m.Payload(), &p); err != nil {
					t.Errorf("%s: %v", m.Topic(), err)
					return
				}
				s.mu.Lock()
				s.seen[p.ID]++
				s.topics[p.ID] = m.Topic()
				s.bodies[p.ID] = p
				s.mu.Unlock()
			})
		})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return s
}

func (s *subscriber) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func TestPublish(t *testing.T) {
	b := startBroker(t)
	sub := subscribe(t, b.addr)
	c := exporttest.Open(t, t.TempDir())
	c.AddGateway(t, "gw1", "putuo/caoyang/c012/cp07")

	e, err := New(Config{Broker: "tcp://" + b.addr, Product: "a1Prod", Timeout: 2 * time.Second,
		Options: export.Options{MaxAttempts: 10000, MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, c.Store.JetStream()) }()
	defer func() { cancel(); <-done }()

	c.Put(t, "gw1", append(exporttest.Readings(7, 1, 20), exporttest.Alert(7, 21, wire.AlertFiring)))
	waitFor(t, "21 posts", func() bool { return sub.unique() == 21 })

	// The broker restarts; what is stored meanwhile arrives after.
	b.stop()
	c.Put(t, "gw1", exporttest.Readings(7, 22, 30))
	waitFor(t, "a failed attempt", func() bool { return e.Metrics().Failed.Load() > 0 })
	b.start(t)
	waitFor(t, "51 posts after the broker's restart", func() bool { return sub.unique() == 51 })
	// Acknowledged only once every PUBACK came back.
	waitFor(t, "51 delivered", func() bool { return e.Metrics().Delivered.Load() >= 51 })

	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, tc := range []struct {
		id, topic, method string
		origin            Origin
	}{
		{"gw1/7/1", "/sys/a1Prod/temp-0/thing/event/property/post", "thing.event.property.post",
			Origin{Gateway: "gw1", Path: "putuo/caoyang/c012/cp07/3/2/301", Building: "3", Unit: "2", Household: "301", Location: "cp07/3/2/301", Trusted: true}},
		{"gw1/7/2", "/sys/a1Prod/temp-1/thing/event/property/post", "thing.event.property.post",
			Origin{Gateway: "gw1", Path: "putuo/caoyang/c012/cp07/5", Building: "5", Location: "cp07/5", Trusted: true}},
		{"gw1/7/3", "/sys/a1Prod/temp-2/thing/event/property/post", "thing.event.property.post",
			Origin{Gateway: "gw1", Path: "putuo/caoyang/c012/cp07", Trusted: true}},
		{"gw1/7/21", "/sys/a1Prod/smoke-1/thing/event/alert/post", "thing.event.alert.post",
			Origin{Gateway: "gw1", Path: "putuo/caoyang/c012/cp07/3/2/302", Building: "3", Unit: "2", Household: "302", Location: "cp07/3/2/302", Trusted: true}},
	} {
		if got := sub.topics[tc.id]; got != tc.topic {
			t.Errorf("%s: topic: got %s, want %s", tc.id, got, tc.topic)
		}
		p := sub.bodies[tc.id]
		if p.Method != tc.method || p.Version != "1.0" || p.Edgegw != tc.origin {
			t.Errorf("%s: got %+v, want origin %+v", tc.id, p, tc.origin)
		}
	}
	raw, _ := json.Marshal(sub.bodies["gw1/7/1"].Params)
	if want := `{"temperature":{"time":1777622400000,"value":20}}`; string(raw) != want {
		t.Errorf("params: got %s, want %s", raw, want)
	}
	if e.Metrics().Dead.Load() != 0 {
		t.Errorf("dead letters: got %d, want 0", e.Metrics().Dead.Load())
	}
}

func TestTopics(t *testing.T) {
	e, err := New(Config{Broker: "tcp://127.0.0.1:1", Product: "p", PropertyTopic: "{path}/{gateway}/{device}/props",
		EventTopic: "city/{product}/{building}/{unit}/{household}/{device}/{id}"})
	if err != nil {
		t.Fatal(err)
	}
	online := true
	for _, tc := range []struct {
		ev    wire.Event
		topic string
	}{
		{wire.Event{Kind: wire.KindReading, Device: "m/1", Point: "kwh"}, "putuo/a/b/c/gw_1/m_1/props"},
		{wire.Event{Kind: wire.KindStatus, Online: &online}, "putuo/a/b/c/gw_1/gw_1/props"},
		{exporttest.Alert(1, 2, wire.AlertResolved), "city/p/3/2/302/smoke-1/alert"},
		{wire.Event{Kind: wire.KindAction, Device: "door-1", Location: "c/3号楼", Action: &wire.Action{Result: "ok"}}, "city/p/3号楼/_/_/door-1/action"},
		{wire.Event{Kind: wire.KindGap, Gap: &wire.Gap{From: 1, To: 2}}, "city/p/_/_/_/gw_1/gap"},
	} {
		var se receiver.StoredEvent
		se.Locate(jsstoreBatch.Path, tc.ev.Location)
		got, _ := e.payload(&jsstoreBatch, &se, &tc.ev)
		if got != tc.topic {
			t.Errorf("%s: got %s, want %s", tc.ev.Kind, got, tc.topic)
		}
	}
	if _, err := New(Config{Broker: "tcp://h:1", EventTopic: "a/+/b"}); err == nil {
		t.Error("wildcard topic: got no error")
	}
}

var jsstoreBatch = jsstore.Batch{Gateway: "gw+1", Path: "putuo/a/b/c", Epoch: 1}
