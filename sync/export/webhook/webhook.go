// Package webhook is the HTTP push exporter of edgecentral: it posts the
// events of its own durable consumer to a URL, signed with HMAC-SHA256,
// each event with its idempotency key, retried with backoff, and counts
// as dead letters what the endpoint refused MaxAttempts times.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
)

// Headers of a request.
const (
	HeaderTimestamp   = "Edgegw-Timestamp"   // unix seconds when the request was signed
	HeaderSignature   = "Edgegw-Signature"   // "sha256=" hex(HMAC-SHA256(secret, timestamp "." body))
	HeaderIdempotency = "Idempotency-Key"    // "gateway/epoch/first..last": the same on every retry
	HeaderConsumer    = "Edgegw-Consumer"    // the exporter's consumer name
	HeaderCount       = "Edgegw-Event-Count" // events in the body
)

// Config configures an Exporter.
type Config struct {
	// URL the events are POSTed to (http or https). Required.
	URL string
	// Secret signs every request (HeaderSignature). Required.
	Secret []byte
	// Timeout bounds one request, connection included; default 10s.
	Timeout time.Duration
	// MaxEvents per request: a message of the stream (up to 8192 events)
	// is split into requests of at most this many; default 500.
	MaxEvents int
	// Client; default a client of its own.
	Client *http.Client
	export.Options
}

// Body is what a request carries: JSON, one object.
type Body struct {
	Events []Event `json:"events"`
}

// Event is one event of a request: the stream's JSON of an event
// (docs/central.md) with its idempotency key.
type Event struct {
	Key string `json:"key"` // "gateway/epoch/seq"
	receiver.StoredEvent
}

// Exporter posts the events of its consumer to the URL.
type Exporter struct {
	c       Config
	m       export.Metrics
	retrier *export.Retrier
}

// New checks c and returns its exporter.
func New(c Config) (*Exporter, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook url %q: want http(s)://host/path", c.URL)
	}
	if len(c.Secret) == 0 {
		return nil, errors.New("webhook: no secret: requests must be signed")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 500
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	c.Options.Defaults("webhook")
	e := &Exporter{c: c}
	e.retrier = export.NewRetrier(c.Options, &e.m)
	return e, nil
}

// Metrics are the exporter's counters.
func (e *Exporter) Metrics() *export.Metrics { return &e.m }

// Name is the exporter's consumer name.
func (e *Exporter) Name() string { return e.c.Name }

// Run delivers until ctx ends.
func (e *Exporter) Run(ctx context.Context, js jetstream.JetStream) error {
	return export.Run(ctx, js, e.c.Options, export.AckWait(e.c.Timeout), e.handle)
}

func (e *Exporter) handle(ctx context.Context, b *jsstore.Batch, _ uint64) error {
	for start := 0; start < len(b.Events); start += e.c.MaxEvents {
		part := b.Events[start:min(start+e.c.MaxEvents, len(b.Events))]
		body := Body{Events: make([]Event, len(part))}
		first, last := uint64(0), uint64(0)
		for i := range part {
			var ev struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal(part[i].Event, &ev); err != nil {
				return fmt.Errorf("message %d: event %d: %w", b.StreamSeq, i, err)
			}
			if i == 0 {
				first = ev.Seq
			}
			last = ev.Seq
			body.Events[i] = Event{Key: export.Key(b.Gateway, b.Epoch, ev.Seq), StoredEvent: part[i]}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		keys := export.KeyRange(b.Gateway, b.Epoch, first, last)
		if err := e.retrier.Do(ctx, keys, len(part), func(ctx context.Context) error {
			return e.post(ctx, keys, len(part), raw)
		}); err != nil {
			return err
		}
	}
	return nil
}

// post sends one request, bounded by Timeout.
func (e *Exporter) post(ctx context.Context, key string, n int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(e.c.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgecentral-webhook")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(e.c.Secret, ts, body))
	req.Header.Set(HeaderIdempotency, key)
	req.Header.Set(HeaderConsumer, e.c.Name)
	req.Header.Set(HeaderCount, strconv.Itoa(n))
	resp, err := e.c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: %s", e.c.URL, resp.Status)
	}
	return nil
}

// Sign returns the signature header of a request: "sha256=" and the hex
// HMAC-SHA256 of timestamp "." body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrSignature is Verify's answer to a request that is not ours.
var ErrSignature = errors.New("webhook signature invalid")

// Verify checks a request as its receiver should: the signature over the
// timestamp and the body, and the timestamp within window of now (a
// replayed old request is refused).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q: %w", HeaderTimestamp, timestamp, ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%s %s is %v from now: %w", HeaderTimestamp, timestamp, d.Round(time.Second), ErrSignature)
	}
	return nil
}

var _ export.Exporter = (*Exporter)(nil)
