package uplink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/edgegw/edgegw/edge"
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

// errStopped marks an exchange cut short by the uplink's own context
// (shutdown, the pause switch): not the central platform's doing.
var errStopped = errors.New("stopped")

// errBadAnswer marks a signed answer that does not decode: a broken central
// platform.
var errBadAnswer = errors.New("answer does not decode")

// errResponseTooLarge marks a response over its limit (wire/limits.go): a
// broken or hostile central platform. Refused before it is parsed or its
// signature checked, and not retried at once (it would come again).
var errResponseTooLarge = errors.New("response over the protocol's limit")

// classify maps a final response status to a failure class (nil: success),
// by the protocol's one table (wire.Classify).
func classify(status int) error {
	switch wire.Classify(status) {
	case wire.ClassOK:
		return nil
	case wire.ClassTransient:
		return ErrTransient
	default:
		return ErrRejected
	}
}

// checkRetry is the client's CheckRetry: it stops on shutdown, retries
// transient failures and hands everything else back to the caller. It
// notes every failed attempt in the status, so the state is current while
// the retries go on.
func (u *Uplink) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, errForged) || errors.Is(err, ErrInvalid) || errors.Is(err, errResponseTooLarge) {
			return false, err
		}
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) {
			// Retrying will not fix a certificate: back off in the caller.
			return false, &Error{Class: ErrTransient, Msg: "TLS certificate", Err: err}
		}
		u.noteAttempt(connFor(0, err), "retrying: "+unwrapNet(err).Error())
		attemptFailed(ctx)
		return true, nil // network error, cut body, timeout
	}
	if resp == nil {
		return true, nil
	}
	retry := errors.Is(classify(resp.StatusCode), ErrTransient)
	if retry && u.o.Judge != nil {
		// Measure the skew now, not only once the retries end: a 401
		// clock_window is then answered by a retry signed with the
		// corrected time (client.signNow).
		if at, ok := resp.Request.Context().Value(attemptKey{}).(*attempt); ok && !at.sent.IsZero() {
			if d, ok := skew(&exchange{Header: resp.Header, Sent: at.sent, Recv: u.c.now()}); ok {
				u.o.Judge.SetSkew(d)
			}
		}
	}
	if retry {
		u.noteAttempt(connFor(resp.StatusCode, nil), fmt.Sprintf("retrying: HTTP %d from %s %s", resp.StatusCode, resp.Request.Method, resp.Request.URL.Path))
		attemptFailed(ctx)
	}
	return retry, nil
}

// Backoff is the client's backoff: on 429 and 503 it honours Retry-After
// (seconds or an HTTP date, read on clock) up to cap; otherwise it waits the
// gateway's one jittered exponential backoff (edge.Backoff) from min to max
// after attempt failures, so that hundreds of gateways coming back after an
// outage spread out.
func Backoff(retryAfterCap time.Duration, clock edge.Clock) retryablehttp.Backoff {
	if clock == nil {
		clock = edge.SystemClock{}
	}
	return func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := wire.RetryAfter(resp.Header, clock.Now()); ok {
				if retryAfterCap > 0 && d > retryAfterCap {
					d = retryAfterCap
				}
				return d
			}
		}
		b := edge.Backoff{Min: min, Max: max, Jitter: 0.5}
		d := b.Next()
		for i := 0; i < attempt; i++ {
			d = b.Next()
		}
		return d
	}
}

// slogLogger routes go-retryablehttp's logging into slog. The library logs
// every failed attempt at error level; during an outage that is one line per
// retry, so its errors are warnings, throttled per message by the gateway's
// edge.LogThrottle (the uplink logs the final outcome itself).
type slogLogger struct {
	l *slog.Logger
	t *edge.LogThrottle
}

var _ retryablehttp.LeveledLogger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger, clock edge.Clock) *slogLogger {
	l = l.With("lib", "retryablehttp")
	return &slogLogger{l: l, t: &edge.LogThrottle{Log: l, Interval: 30 * time.Second, Clock: clock}}
}

func (s *slogLogger) Error(msg string, kv ...any) { s.t.Warn(msg, msg, kv...) }
func (s *slogLogger) Warn(msg string, kv ...any)  { s.t.Warn(msg, msg, kv...) }
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
	now     func() time.Time // the local clock: send and receive times, for the skew
	signNow func() time.Time // the time requests are signed with
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
// signature and at most maxResp bytes of body (checked first); its body is
// returned. Every failure is an *Error.
func (c *client) do(ctx context.Context, method, path string, body []byte, header http.Header, maxResp int64) (*exchange, error) {
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
			b, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxErrorBody))
			resp.Body.Close()
			at.ex.Body = b
			return nil
		}
		b, err := wire.ReadVerifiedResponse(resp, c.key, maxResp)
		if err != nil {
			at.done = false
			switch {
			case errors.Is(err, wire.ErrUnsigned) || errors.Is(err, wire.ErrBadSignature):
				return fmt.Errorf("%w: %v", errForged, err)
			case errors.Is(err, wire.ErrBodyTooLarge):
				return fmt.Errorf("%w: %v", errResponseTooLarge, err)
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
			b, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxErrorBody))
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
		case errors.Is(err, errResponseTooLarge):
			return nil, &Error{Class: ErrTransient, Status: ex.Status, Msg: fmt.Sprintf("response to %s %s refused", method, path), Err: unwrapNet(err)}
		case ctx.Err() != nil:
			return nil, &Error{Class: ErrTransient, Msg: "cancelled", Err: fmt.Errorf("%w: %w", errStopped, ctx.Err())}
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
	wire.SignRequest(req, c.gateway, c.key, body, c.signNow())
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
	var er wire.ErrorResponse // the message may quote: "gateway \"gw1\" is disabled"
	if json.Unmarshal(b, &er) == nil && er.Error != "" {
		return er.Error[:min(len(er.Error), len(b))] // invalid UTF-8 decodes longer
	}
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
