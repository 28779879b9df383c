package uplink

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/edgegw/edgegw/sync/wire"
)

// Failure classes. Every error an exchange with the central platform returns
// wraps exactly one of them; the class decides retry versus quarantine.
var (
	// ErrTransient: network errors, timeouts, 5xx, 408, 429, a response that
	// was cut short or failed its signature, and 401/403 (a wrong key or a
	// clock outside the replay window is the gateway's problem to fix, not
	// the data's: the batch waits). Retried with backoff, never dropped.
	ErrTransient = errors.New("transient")
	// ErrRejected: any other 4xx. The central platform will never take this
	// request as it is: a batch is bisected down to its poison events, which
	// are quarantined.
	ErrRejected = errors.New("rejected by central")
	// ErrInvalid: the request could not be built or a response could not be
	// understood (a bug on one side or the other, or a forged downlink).
	ErrInvalid = errors.New("invalid")
)

// Error is an exchange's failure with its class, HTTP status (0 when there
// was no response) and the server's message.
type Error struct {
	Class  error // ErrTransient, ErrRejected or ErrInvalid
	Status int
	Msg    string
	Err    error // the cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Class.Error())
	if e.Status != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Class, e.Err}
	}
	return []error{e.Class}
}

// errForged marks a response whose signature failed: counted and refused.
var errForged = errors.New("response signature failed")

// classify maps a final response status to a failure class (nil: success).
func classify(status int) error {
	switch {
	case status >= 200 && status < 300, status == http.StatusNotModified:
		return nil
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return ErrTransient
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// A wrong key or a clock outside the replay window: quarantining
		// the data would lose it for a configuration mistake. Keep it.
		return ErrTransient
	case status >= 400:
		return ErrRejected
	}
	return ErrInvalid // 1xx, 3xx other than 304: not part of the protocol
}

// retryPolicy is the client's CheckRetry: it stops on shutdown, retries
// transient failures and hands everything else back to the caller.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, errForged) || errors.Is(err, ErrInvalid) {
			return false, err
		}
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) {
			// Retrying will not fix a certificate: back off in the caller.
			return false, &Error{Class: ErrTransient, Msg: "TLS certificate", Err: err}
		}
		return true, nil // network error, cut body, timeout
	}
	if resp == nil {
		return true, nil
	}
	return errors.Is(classify(resp.StatusCode), ErrTransient), nil
}

// Backoff is the client's backoff: on 429 and 503 it honours Retry-After
// (seconds or an HTTP date) up to cap; otherwise it waits a jittered
// exponential time between min and max ("full jitter" over the upper half,
// so that hundreds of gateways coming back after an outage spread out).
func Backoff(retryAfterCap time.Duration) retryablehttp.Backoff {
	return func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				if retryAfterCap > 0 && d > retryAfterCap {
					d = retryAfterCap
				}
				return d
			}
		}
		return jitter(min, max, attempt)
	}
}

// jitter returns a random time in [d/2, d] where d = min*2^attempt capped at max.
func jitter(min, max time.Duration, attempt int) time.Duration {
	if min <= 0 {
		min = 100 * time.Millisecond
	}
	if max < min {
		max = min
	}
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// RetryAfter parses a Retry-After value: delta seconds or an HTTP date
// (relative to now). A date in the past means 0.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// slogLogger routes go-retryablehttp's logging into slog. The library logs
// every failed attempt at error level; during an outage that is one line per
// retry, so repeats of a message are rate-limited and its errors are warnings
// (the uplink logs the final outcome itself).
type slogLogger struct {
	l     *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

var _ retryablehttp.LeveledLogger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger) *slogLogger {
	return &slogLogger{l: l.With("lib", "retryablehttp"), every: 30 * time.Second, last: map[string]time.Time{}}
}

func (s *slogLogger) allow(msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if t, ok := s.last[msg]; ok && now.Sub(t) < s.every {
		return false
	}
	s.last[msg] = now
	return true
}

func (s *slogLogger) Error(msg string, kv ...any) {
	if s.allow(msg) {
		s.l.Warn(msg, kv...)
	}
}
func (s *slogLogger) Warn(msg string, kv ...any) {
	if s.allow(msg) {
		s.l.Warn(msg, kv...)
	}
}
func (s *slogLogger) Info(msg string, kv ...any)  { s.l.Info(msg, kv...) }
func (s *slogLogger) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }

// bodyKey carries a request's body bytes in its context so PrepareRetry can
// re-sign each retry with a fresh timestamp and nonce.
type bodyKey struct{}

// attemptKey carries the *attempt of a request: the request hook resets it
// just before each attempt, on the goroutine that then runs the response
// handler, so no locking is needed.
type attemptKey struct{}

type attempt struct {
	sent time.Time
	ex   exchange
	done bool // the response handler ran for this attempt
}

func (c *client) requestHook(_ retryablehttp.Logger, req *http.Request, _ int) {
	if p, ok := req.Context().Value(attemptKey{}).(*attempt); ok {
		*p = attempt{sent: c.now()}
	}
}

// client is the signed, retrying HTTP client of one uplink.
type client struct {
	base    *url.URL
	gateway string
	key     wire.Key
	rc      *retryablehttp.Client
	now     func() time.Time
	maxResp int64
}

// exchange is the outcome of one successful request.
type exchange struct {
	Status int
	Header http.Header
	Body   []byte
	Sent   time.Time // when the last attempt was sent
	Recv   time.Time // when its response arrived
}

// do sends method path with body (already encoded; gzip if ctype says so),
// signed, retried per policy. A 2xx or 304 response must carry a valid
// signature; its body is returned. Every failure is an *Error.
func (c *client) do(ctx context.Context, method, path string, body []byte, header http.Header) (*exchange, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + path
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path = strings.TrimSuffix(c.base.Path, "/") + path[:i]
		u.RawQuery = path[i+1:]
	}
	ctx = context.WithValue(ctx, bodyKey{}, body)
	var rawBody any
	if body != nil {
		rawBody = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), rawBody)
	if err != nil {
		return nil, &Error{Class: ErrInvalid, Msg: "build request", Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c.sign(req.Request)
	at := &attempt{}
	req.SetResponseHandler(func(resp *http.Response) error {
		at.ex = exchange{Status: resp.StatusCode, Header: resp.Header, Sent: at.sent, Recv: c.now()}
		at.done = true
		if classify(resp.StatusCode) != nil {
			// An error response: read its message (it may be a proxy's,
			// unsigned). A cut-short error body does not matter.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			at.ex.Body = b
			return nil
		}
		b, err := wire.ReadVerifiedResponse(resp, c.key, c.maxResp)
		if err != nil {
			at.done = false
			if errors.Is(err, wire.ErrUnsigned) || errors.Is(err, wire.ErrBadSignature) {
				return fmt.Errorf("%w: %v", errForged, err)
			}
			return err // cut short: retried
		}
		at.ex.Body = b
		return nil
	})
	req.Request = req.Request.WithContext(context.WithValue(req.Context(), attemptKey{}, at))
	// The client's ErrorHandler passes the last response through when the
	// retries run out, so its status can be classified here.
	resp, err := c.rc.Do(req)
	if resp != nil {
		if !at.done { // retries ran out: the handler never saw it
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			at.ex = exchange{Status: resp.StatusCode, Header: resp.Header, Body: b, Sent: at.sent, Recv: c.now()}
			at.done = true
		}
		resp.Body.Close()
	}
	ex := at.ex
	if err != nil {
		var ue *Error
		switch {
		case errors.As(err, &ue):
			return nil, ue
		case errors.Is(err, errForged):
			return nil, &Error{Class: ErrTransient, Status: ex.Status, Msg: "response failed its signature", Err: errForged}
		case ctx.Err() != nil:
			return nil, &Error{Class: ErrTransient, Msg: "cancelled", Err: ctx.Err()}
		}
		return nil, &Error{Class: ErrTransient, Status: ex.Status, Msg: "request failed", Err: unwrapNet(err)}
	}
	if !at.done {
		return nil, &Error{Class: ErrTransient, Msg: "no response"}
	}
	if cls := classify(ex.Status); cls != nil {
		return &ex, &Error{Class: cls, Status: ex.Status, Msg: errMsg(ex.Body)}
	}
	return &ex, nil
}

// sign signs req (first attempt or retry) with a fresh timestamp and nonce.
func (c *client) sign(req *http.Request) {
	body, _ := req.Context().Value(bodyKey{}).([]byte)
	wire.SignRequest(req, c.gateway, c.key, body, c.now())
}

// prepareRetry re-signs a retry. The header map is cloned first: the
// library's shallow copy of the request shares it with the previous attempt.
func (c *client) prepareRetry(req *http.Request) error {
	req.Header = req.Header.Clone()
	c.sign(req)
	return nil
}

// errMsg extracts the message of an error response: a JSON {"error": "..."}
// or the first line of text.
func errMsg(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.Index(b, []byte(`"error":"`)); i >= 0 {
		rest := b[i+len(`"error":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return string(rest[:j])
		}
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

func unwrapNet(err error) error {
	var ne net.Error
	if errors.As(err, &ne) {
		return ne
	}
	return err
}
