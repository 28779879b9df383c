package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// KeySize is the length of a gateway key in bytes.
const KeySize = 32

// DefaultReplayWindow is how far a request's timestamp may be from the
// receiver's clock.
const DefaultReplayWindow = 5 * time.Minute

// Key is a gateway's secret: 32 random bytes shared by the gateway and the
// central platform. It prints as 64 hex digits.
type Key [KeySize]byte

// NewKey makes a random key.
func NewKey() (Key, error) {
	var k Key
	_, err := rand.Read(k[:])
	return k, err
}

// ParseKey reads a key written as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not) of 32 bytes.
func ParseKey(s string) (Key, error) {
	var k Key
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		copy(k[:], b)
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			copy(k[:], b)
			return k, nil
		}
	}
	return k, fmt.Errorf("parse key: want 64 hex digits or base64 of %d bytes", KeySize)
}

// String returns the key as 64 lowercase hex digits.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// MarshalText writes the key as hex.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a key in any form ParseKey accepts.
func (k *Key) UnmarshalText(b []byte) error {
	v, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Errors of signature checks. A receiver answers all of them with 401.
var (
	ErrUnsigned     = errors.New("request not signed")
	ErrBadSignature = errors.New("bad signature")
	ErrClockWindow  = errors.New("timestamp outside the replay window")
	ErrReplayed     = errors.New("replayed request")
	// ErrNoDigest: the request has no X-Edgegw-Content-Sha256 header, so its
	// signature can only be checked once the body is read (VerifyRequest).
	ErrNoDigest = errors.New("no body digest header")
)

// ErrBodyTooLarge is returned by ReadLimited (and ReadVerifiedResponse) for
// a body over its limit.
var ErrBodyTooLarge = errors.New("body too large")

// BodyDigest is hex(sha256(body)), body exactly as sent (compressed, if it
// was compressed).
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Sign returns the hex HMAC-SHA256 under key of the request's canonical
// string:
//
//	method "\n" pathAndQuery "\n" timestamp "\n" nonce "\n" BodyDigest(body)
func Sign(key Key, method, pathAndQuery, timestamp, nonce, bodyDigest string) string {
	m := hmac.New(sha256.New, key[:])
	io.WriteString(m, method)
	m.Write([]byte{'\n'})
	io.WriteString(m, pathAndQuery)
	m.Write([]byte{'\n'})
	io.WriteString(m, timestamp)
	m.Write([]byte{'\n'})
	io.WriteString(m, nonce)
	m.Write([]byte{'\n'})
	io.WriteString(m, bodyDigest)
	return hex.EncodeToString(m.Sum(nil))
}

// SignResponse returns the hex HMAC-SHA256 under key of a response's
// canonical string. It binds the response to the request it answers (method,
// path, the request's nonce), so an old signed response cannot be replayed
// to a new request:
//
//	"response" "\n" status "\n" method "\n" pathAndQuery "\n" timestamp "\n" nonce "\n" BodyDigest(body)
func SignResponse(key Key, status int, method, pathAndQuery, timestamp, nonce, bodyDigest string) string {
	return Sign(key, "response\n"+strconv.Itoa(status)+"\n"+method, pathAndQuery, timestamp, nonce, bodyDigest)
}

// Verify reports whether sig (hex) is the signature Sign computes, in
// constant time.
func Verify(key Key, sig, method, pathAndQuery, timestamp, nonce, bodyDigest string) bool {
	return Equal(sig, Sign(key, method, pathAndQuery, timestamp, nonce, bodyDigest))
}

// Equal compares two hex signatures in constant time.
func Equal(a, b string) bool {
	return hmac.Equal([]byte(strings.ToLower(a)), []byte(strings.ToLower(b)))
}

// NewNonce returns 16 random bytes as hex.
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SignRequest sets the protocol headers of req for gateway: gateway id,
// timestamp (now, unix seconds), a fresh nonce, protocol version and the
// signature over body (the bytes that are, or will be, req's body, as sent).
// Call it again for every retry: a receiver refuses a signature it has seen.
func SignRequest(req *http.Request, gateway string, key Key, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := NewNonce()
	req.Header.Set(HeaderGateway, gateway)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderProtocol, strconv.Itoa(Version))
	digest := BodyDigest(body)
	req.Header.Set(HeaderContentSHA256, digest)
	req.Header.Set(HeaderSignature, Sign(key, req.Method, req.URL.RequestURI(), ts, nonce, digest))
}

// ParseTimestamp reads an X-Edgegw-Timestamp value: unix seconds or RFC 3339.
func ParseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want unix seconds or RFC 3339", s)
	}
	return t, nil
}

// VerifyRequest checks req's signature under key over body (as received)
// and that its timestamp is within window of now (window <= 0 means
// DefaultReplayWindow). It does not remember signatures: replay detection
// within the window is the caller's (the receiver keeps recent signatures).
func VerifyRequest(req *http.Request, key Key, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	sig, ts := req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return ErrUnsigned
	}
	t, err := ParseTimestamp(ts)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrClockWindow, err)
	}
	if d := now.Sub(t); d > window || d < -window {
		return fmt.Errorf("%w: timestamp %s is %s from the server's clock", ErrClockWindow, ts, d.Round(time.Second))
	}
	digest := BodyDigest(body)
	if d := req.Header.Get(HeaderContentSHA256); d != "" && !Equal(d, digest) {
		return fmt.Errorf("%w: the body does not match %s", ErrBadSignature, HeaderContentSHA256)
	}
	if !Verify(key, sig, req.Method, req.URL.RequestURI(), ts, req.Header.Get(HeaderNonce), digest) {
		return ErrBadSignature
	}
	return nil
}

// VerifyRequestHeaders checks req's signature before its body is read,
// against the body digest the X-Edgegw-Content-Sha256 header declares, and
// its timestamp against now (as VerifyRequest). ErrNoDigest: the header is
// absent, so only VerifyRequest can tell. When it returns nil the request
// is authentic if its body hashes to the declared digest: the caller hashes
// the body as it reads it and compares (BodyDigest, Equal).
func VerifyRequestHeaders(req *http.Request, key Key, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	sig, ts := req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return ErrUnsigned
	}
	t, err := ParseTimestamp(ts)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrClockWindow, err)
	}
	if d := now.Sub(t); d > window || d < -window {
		return fmt.Errorf("%w: timestamp %s is %s from the server's clock", ErrClockWindow, ts, d.Round(time.Second))
	}
	digest := req.Header.Get(HeaderContentSHA256)
	if digest == "" {
		return ErrNoDigest
	}
	if len(digest) != 2*sha256.Size {
		return fmt.Errorf("%w: %s is not a SHA-256 in hex", ErrBadSignature, HeaderContentSHA256)
	}
	if !Verify(key, sig, req.Method, req.URL.RequestURI(), ts, req.Header.Get(HeaderNonce), strings.ToLower(digest)) {
		return ErrBadSignature
	}
	return nil
}

// SignResponseHeaders sets the timestamp, nonce and signature headers of a
// response to req with status and body (as sent). Call it before
// WriteHeader.
func SignResponseHeaders(h http.Header, key Key, req *http.Request, status int, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := req.Header.Get(HeaderNonce)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderProtocol, strconv.Itoa(Version))
	h.Set(HeaderSignature, SignResponse(key, status, req.Method, req.URL.RequestURI(), ts, nonce, BodyDigest(body)))
}

// VerifyResponse checks the signature of resp, whose body the caller has
// read into body, against the request that produced it (resp.Request): its
// method, path and nonce. It does not check the response timestamp against
// the gateway's clock, which may be wrong; the echoed nonce makes the
// response fresh.
func VerifyResponse(resp *http.Response, key Key, body []byte) error {
	req := resp.Request
	if req == nil {
		return errors.New("verify response: no request")
	}
	sig, ts := resp.Header.Get(HeaderSignature), resp.Header.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return ErrUnsigned
	}
	nonce := req.Header.Get(HeaderNonce)
	if resp.Header.Get(HeaderNonce) != nonce {
		return fmt.Errorf("%w: response nonce does not match the request's", ErrBadSignature)
	}
	want := SignResponse(key, resp.StatusCode, req.Method, req.URL.RequestURI(), ts, nonce, BodyDigest(body))
	if !Equal(sig, want) {
		return ErrBadSignature
	}
	return nil
}

// ReadVerifiedResponse reads resp's body (at most max bytes; max <= 0
// means 64 MiB), closes it and verifies the response signature. It returns
// the body only if the signature holds. A body over max is refused with
// ErrBodyTooLarge before the signature is checked, and a declared
// Content-Length over max before anything is read.
func ReadVerifiedResponse(resp *http.Response, key Key, max int64) ([]byte, error) {
	if max <= 0 {
		max = 64 << 20
	}
	defer resp.Body.Close()
	body, err := ReadLimited(resp.Body, resp.ContentLength, max)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if err := VerifyResponse(resp, key, body); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// ReadLimited reads all of r, at most max bytes: more is ErrBodyTooLarge.
// declared is the Content-Length (-1 when unknown): over max, it is refused
// before anything is read; otherwise the buffer is allocated once at that
// size (a body that turns out longer is refused too). An unknown length
// grows the buffer in steps, never past max+1 bytes.
func ReadLimited(r io.Reader, declared, max int64) ([]byte, error) {
	if declared > max {
		return nil, fmt.Errorf("%w: %d bytes declared, the limit is %d", ErrBodyTooLarge, declared, max)
	}
	if declared >= 0 {
		buf := make([]byte, declared)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		var one [1]byte
		if n, _ := r.Read(one[:]); n > 0 {
			return nil, fmt.Errorf("%w: longer than the %d bytes declared", ErrBodyTooLarge, declared)
		}
		return buf, nil
	}
	buf := make([]byte, 0, min(max+1, 32<<10))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > max {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, max)
			}
			// Double, up to max+1: the buffers allocated add up to at most
			// twice the body (append grows big slices by a quarter).
			nb := make([]byte, len(buf), min(2*int64(cap(buf)), max+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > max {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, max)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
