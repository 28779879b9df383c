// Package mqtt is the thing-model exporter of edgecentral: it publishes
// the events of its own durable consumer to an MQTT broker as Alink-style
// property and event posts (the shape Chinese city platforms take), QoS 1,
// and acknowledges a message of the stream only after the broker's PUBACK
// of every event in it.
package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// Default topic templates (Alink). Placeholders: {product}, {device} (the
// event's device, else the gateway), {gateway}, {id} (the event's
// identifier: alert, gap, action), {path} (the gateway's place codes
// joined by /), {building}, {unit}, {household} (the device's, "_" when
// its location names none).
const (
	DefaultPropertyTopic = "/sys/{product}/{device}/thing/event/property/post"
	DefaultEventTopic    = "/sys/{product}/{device}/thing/event/{id}/post"
)

// Config configures an Exporter.
type Config struct {
	// Broker is the broker's URL: tcp://host:1883, ssl://host:8883. Required.
	Broker string
	// ClientID; default "edgecentral-" and the consumer name.
	ClientID string
	// Username and Password; default none.
	Username, Password string
	// Product fills {product}; default "edgegw".
	Product string
	// PropertyTopic is the topic template of readings, states and
	// statuses; default DefaultPropertyTopic.
	PropertyTopic string
	// EventTopic is the topic template of alerts, gaps and actions;
	// default DefaultEventTopic.
	EventTopic string
	// Timeout bounds the connection and the PUBACKs of one message of the
	// stream; default 10s.
	Timeout time.Duration
	export.Options
}

// Payload is what a post carries (Alink's request shape).
type Payload struct {
	ID      string `json:"id"`      // the event's key, gateway/epoch/seq
	Version string `json:"version"` // "1.0"
	Params  any    `json:"params"`
	Method  string `json:"method"` // thing.event.property.post, thing.event.<id>.post
	// Edgegw says where the event comes from.
	Edgegw Origin `json:"edgegw"`
}

// Origin is the edgegw part of a payload.
type Origin struct {
	Gateway string `json:"gateway"`
	// Path is the event's full path: the gateway's place, then the
	// device's building, unit and household (the stream's "path").
	Path      string `json:"path,omitempty"`
	Building  string `json:"building,omitempty"`
	Unit      string `json:"unit,omitempty"`
	Household string `json:"household,omitempty"`
	Location  string `json:"loc,omitempty"` // the device's location in the gateway's config
	Trusted   bool   `json:"trusted"`       // the gateway's clock was synchronised
}

// Value is a property's or an event's value with its time (ms since
// 1970, the gateway's clock).
type Value struct {
	Value any   `json:"value"`
	Time  int64 `json:"time"`
}

// Exporter publishes the events of its consumer.
type Exporter struct {
	c       Config
	m       export.Metrics
	retrier *export.Retrier
	client  paho.Client
}

// New checks c and returns its exporter.
func New(c Config) (*Exporter, error) {
	u, err := url.Parse(c.Broker)
	if err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("mqtt broker %q: want tcp://host:1883 (or ssl://, ws://)", c.Broker)
	}
	if c.Product == "" {
		c.Product = "edgegw"
	}
	if c.PropertyTopic == "" {
		c.PropertyTopic = DefaultPropertyTopic
	}
	if c.EventTopic == "" {
		c.EventTopic = DefaultEventTopic
	}
	for _, t := range []string{c.PropertyTopic, c.EventTopic} {
		if strings.ContainsAny(t, "+#") {
			return nil, fmt.Errorf("mqtt topic %q: no wildcards in a topic to publish to", t)
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	c.Options.Defaults("mqtt")
	if c.ClientID == "" {
		c.ClientID = "edgecentral-" + c.Name
	}
	e := &Exporter{c: c}
	e.retrier = export.NewRetrier(c.Options, &e.m)
	return e, nil
}

// Metrics are the exporter's counters.
func (e *Exporter) Metrics() *export.Metrics { return &e.m }

// Name is the exporter's consumer name.
func (e *Exporter) Name() string { return e.c.Name }

// Run connects to the broker (and keeps reconnecting) and delivers until
// ctx ends.
func (e *Exporter) Run(ctx context.Context, js jetstream.JetStream) error {
	log := e.c.Logger
	o := paho.NewClientOptions().AddBroker(e.c.Broker).SetClientID(e.c.ClientID).
		SetUsername(e.c.Username).SetPassword(e.c.Password).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false).
		SetConnectTimeout(e.c.Timeout).SetWriteTimeout(e.c.Timeout).
		SetMaxReconnectInterval(e.c.MaxBackoff).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("mqtt connection lost", "broker", e.c.Broker, "error", err)
		}).
		SetOnConnectHandler(func(paho.Client) { log.Info("mqtt connected", "broker", e.c.Broker) })
	e.client = paho.NewClient(o)
	e.client.Connect() // ConnectRetry: keeps trying in the background
	defer e.client.Disconnect(250)
	return export.Run(ctx, js, e.c.Options, export.AckWait(e.c.Timeout), e.handle)
}

func (e *Exporter) handle(ctx context.Context, b *jsstore.Batch, _ uint64) error {
	type post struct {
		topic string
		body  []byte
	}
	posts := make([]post, 0, len(b.Events))
	first, last := uint64(0), uint64(0)
	for i := range b.Events {
		ev, err := b.Events[i].Decode()
		if err != nil {
			return fmt.Errorf("message %d: event %d: %w", b.StreamSeq, i, err)
		}
		if i == 0 {
			first = ev.Seq
		}
		last = ev.Seq
		topic, p := e.payload(b, &b.Events[i], &ev)
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		posts = append(posts, post{topic, body})
	}
	keys := export.KeyRange(b.Gateway, b.Epoch, first, last)
	return e.retrier.Do(ctx, keys, len(posts), func(ctx context.Context) error {
		if !e.client.IsConnectionOpen() {
			return fmt.Errorf("mqtt %s: not connected", e.c.Broker)
		}
		toks := make([]paho.Token, len(posts))
		for i, p := range posts {
			toks[i] = e.client.Publish(p.topic, 1, false, p.body)
		}
		ctx, cancel := context.WithTimeout(ctx, e.c.Timeout)
		defer cancel()
		for _, t := range toks {
			select {
			case <-t.Done():
			case <-ctx.Done():
				return fmt.Errorf("mqtt %s: no PUBACK within %v", e.c.Broker, e.c.Timeout)
			}
			if err := t.Error(); err != nil {
				return fmt.Errorf("mqtt %s: %w", e.c.Broker, err)
			}
		}
		return nil
	})
}

// payload returns the topic and the payload of one event.
func (e *Exporter) payload(b *jsstore.Batch, se *receiver.StoredEvent, ev *wire.Event) (string, Payload) {
	ms := ev.Time.UnixMilli()
	p := Payload{ID: export.Key(b.Gateway, b.Epoch, ev.Seq), Version: "1.0",
		Edgegw: Origin{Gateway: b.Gateway, Path: se.Path, Building: se.Building, Unit: se.Unit, Household: se.Household,
			Location: ev.Location, Trusted: ev.ClockTrusted}}
	device := ev.Device
	if device == "" {
		device = b.Gateway
	}
	id := ev.Kind
	var params any
	switch ev.Kind {
	case wire.KindReading:
		params = map[string]Value{name(ev.Point, "value"): {ev.Value, ms}}
	case wire.KindState:
		params = map[string]Value{name(ev.Point, "state"): {ev.Text, ms}}
	case wire.KindStatus:
		online := ev.Online != nil && *ev.Online
		params = map[string]Value{"online": {online, ms}}
	case wire.KindAlert:
		params = Value{ev.Alert, ms}
	case wire.KindGap:
		params = Value{ev.Gap, ms}
	case wire.KindAction:
		params = Value{ev.Action, ms}
	default:
		params = Value{ev, ms}
	}
	tmpl, method := e.c.EventTopic, "thing.event."+id+".post"
	if _, ok := params.(map[string]Value); ok {
		tmpl, method = e.c.PropertyTopic, "thing.event.property.post"
	}
	p.Params, p.Method = params, method
	r := strings.NewReplacer("{product}", level(e.c.Product), "{device}", level(device), "{gateway}", level(b.Gateway),
		"{id}", level(id), "{path}", b.Path,
		"{building}", orUnplaced(se.Building), "{unit}", orUnplaced(se.Unit), "{household}", orUnplaced(se.Household))
	return r.Replace(tmpl), p
}

// orUnplaced is s as one topic level, "_" when empty.
func orUnplaced(s string) string {
	if s == "" {
		return receiver.Unplaced
	}
	return level(s)
}

func name(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// level makes s one topic level: no separator, no wildcard.
func level(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0:
			return '_'
		}
		return r
	}, s)
}

var _ export.Exporter = (*Exporter)(nil)
