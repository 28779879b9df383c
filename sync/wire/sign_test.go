package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKeyParse(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{k.String(), " " + k.String() + "\n"} {
		got, err := ParseKey(s)
		if err != nil || got != k {
			t.Errorf("ParseKey(%q): got %v, %v", s, got, err)
		}
	}
	if _, err := ParseKey("abcd"); err == nil {
		t.Error("short key accepted")
	}
}

func TestSignVerifyRequest(t *testing.T) {
	key, _ := NewKey()
	other, _ := NewKey()
	now := time.Unix(1_800_000_000, 0)
	body := []byte("gzip bytes")
	mk := func() *http.Request {
		req := httptest.NewRequest("POST", "http://c.example/v1/batches?x=1", bytes.NewReader(body))
		SignRequest(req, "gw1", key, body, now)
		return req
	}
	if err := VerifyRequest(mk(), key, body, now.Add(4*time.Minute), 0); err != nil {
		t.Errorf("good request: %v", err)
	}
	cases := []struct {
		name string
		mod  func(r *http.Request) ([]byte, Key, time.Time)
		want error
	}{
		{"wrong key", func(r *http.Request) ([]byte, Key, time.Time) { return body, other, now }, ErrBadSignature},
		{"tampered body", func(r *http.Request) ([]byte, Key, time.Time) { return []byte("gzip bytez"), key, now }, ErrBadSignature},
		{"other path", func(r *http.Request) ([]byte, Key, time.Time) { r.URL.RawQuery = "x=2"; return body, key, now }, ErrBadSignature},
		{"other nonce", func(r *http.Request) ([]byte, Key, time.Time) { r.Header.Set(HeaderNonce, "00"); return body, key, now }, ErrBadSignature},
		{"too old", func(r *http.Request) ([]byte, Key, time.Time) { return body, key, now.Add(6 * time.Minute) }, ErrClockWindow},
		{"from the future", func(r *http.Request) ([]byte, Key, time.Time) { return body, key, now.Add(-6 * time.Minute) }, ErrClockWindow},
		{"unsigned", func(r *http.Request) ([]byte, Key, time.Time) { r.Header.Del(HeaderSignature); return body, key, now }, ErrUnsigned},
	}
	for _, c := range cases {
		req := mk()
		b, k, n := c.mod(req)
		if err := VerifyRequest(req, k, b, n, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// RFC 3339 timestamps are accepted too.
	req := httptest.NewRequest("GET", "/v1/config", nil)
	ts := now.UTC().Format(time.RFC3339)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(key, "GET", "/v1/config", ts, "", BodyDigest(nil)))
	if err := VerifyRequest(req, key, nil, now, 0); err != nil {
		t.Errorf("RFC 3339 timestamp: %v", err)
	}
}

// TestVerifyRequestHeaders: with the body digest header, the signature is
// checked before the body is read; the digest must then match the body.
func TestVerifyRequestHeaders(t *testing.T) {
	key, _ := NewKey()
	other, _ := NewKey()
	now := time.Unix(1_800_000_000, 0)
	body := []byte("gzip bytes")
	mk := func() *http.Request {
		req := httptest.NewRequest("POST", "http://c.example/v1/batches", bytes.NewReader(body))
		SignRequest(req, "gw1", key, body, now)
		return req
	}
	if err := VerifyRequestHeaders(mk(), key, now, 0); err != nil {
		t.Errorf("good request: %v", err)
	}
	for _, c := range []struct {
		name string
		mod  func(r *http.Request) Key
		want error
	}{
		{"wrong key", func(r *http.Request) Key { return other }, ErrBadSignature},
		{"other digest", func(r *http.Request) Key { r.Header.Set(HeaderContentSHA256, BodyDigest([]byte("x"))); return key }, ErrBadSignature},
		{"short digest", func(r *http.Request) Key { r.Header.Set(HeaderContentSHA256, "abc"); return key }, ErrBadSignature},
		{"no digest", func(r *http.Request) Key { r.Header.Del(HeaderContentSHA256); return key }, ErrNoDigest},
		{"unsigned", func(r *http.Request) Key { r.Header.Del(HeaderSignature); return key }, ErrUnsigned},
		{"old", func(r *http.Request) Key { r.Header.Set(HeaderTimestamp, "1"); return key }, ErrClockWindow},
	} {
		req := mk()
		if err := VerifyRequestHeaders(req, c.mod(req), now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// The full check refuses a body that does not match the declared digest.
	req := mk()
	req.Header.Set(HeaderContentSHA256, BodyDigest([]byte("other")))
	if err := VerifyRequest(req, key, body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("digest header not matching the body: got %v, want ErrBadSignature", err)
	}
}

func TestReadLimited(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1000)
	for _, c := range []struct {
		name          string
		declared, max int64
		n             int // bytes the reader holds
		ok            bool
	}{
		{"declared fits", 1000, 1000, 1000, true},
		{"unknown fits", -1, 1000, 1000, true},
		{"unknown empty", -1, 1000, 0, true},
		{"declared over", 1001, 1000, 1000, false},
		{"unknown over", -1, 999, 1000, false},
		{"longer than declared", 10, 1000, 1000, false},
		{"shorter than declared", 1000, 1000, 10, false},
	} {
		got, err := ReadLimited(bytes.NewReader(data[:c.n]), c.declared, c.max)
		if c.ok && (err != nil || len(got) != c.n) {
			t.Errorf("%s: got %d bytes, %v; want %d", c.name, len(got), err, c.n)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: got %d bytes, want an error", c.name, len(got))
		}
	}
	if _, err := ReadLimited(bytes.NewReader(data), 5000, 1000); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("declared over the limit: got %v, want ErrBodyTooLarge", err)
	}
}

func TestSignVerifyResponse(t *testing.T) {
	key, _ := NewKey()
	forged := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := []byte(`{"commands":[]}`)
		SignResponseHeaders(w.Header(), key, r, 200, body, time.Now())
		if forged {
			body = []byte(`{"commands":[{"id":1,"type":"pulse_output"}]}`)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(200)
		w.Write(body)
	}))
	defer srv.Close()
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/commands?after=0", nil)
		SignRequest(req, "gw1", key, nil, time.Now())
		return srv.Client().Do(req)
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadVerifiedResponse(resp, key, 0); err != nil {
		t.Errorf("genuine response: %v", err)
	}
	forged = true
	resp, _ = get()
	if _, err := ReadVerifiedResponse(resp, key, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered response: got %v, want ErrBadSignature", err)
	}
	// A genuine response replayed to a different request fails: the nonce differs.
	forged = false
	resp, _ = get()
	body, _ := io.ReadAll(resp.Body)
	req2, _ := http.NewRequest("GET", srv.URL+"/v1/commands?after=0", nil)
	SignRequest(req2, "gw1", key, nil, time.Now())
	resp.Request = req2
	if err := VerifyResponse(resp, key, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("replayed response: got %v, want ErrBadSignature", err)
	}
}

// TestClassify is the one table of what a gateway does with each answer
// the protocol defines (PROTOCOL.md §7); the receiver answers from Errors,
// whose every entry must classify as it says.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		want   Class
	}{
		{200, ClassOK}, {204, ClassOK}, {304, ClassOK},
		{100, ClassTransient}, {301, ClassTransient}, {302, ClassTransient}, {307, ClassTransient},
		{400, ClassRejected}, {401, ClassTransient}, {403, ClassTransient}, {404, ClassRejected},
		{405, ClassRejected}, {408, ClassTransient}, {409, ClassRejected}, {411, ClassRejected},
		{413, ClassRejected}, {415, ClassRejected}, {422, ClassRejected}, {429, ClassTransient},
		{500, ClassTransient}, {502, ClassTransient}, {503, ClassTransient}, {504, ClassTransient},
	} {
		if got := Classify(c.status); got != c.want {
			t.Errorf("Classify(%d): got %v, want %v", c.status, got, c.want)
		}
	}
	seen := map[string]bool{}
	for _, e := range Errors {
		if seen[e.Code] {
			t.Errorf("code %q listed twice", e.Code)
		}
		seen[e.Code] = true
		if got := Classify(e.Status); got != e.Class {
			t.Errorf("code %s: Classify(%d) = %v, the table says %v", e.Code, e.Status, got, e.Class)
		}
		if got := StatusOf(e.Code); got != e.Status {
			t.Errorf("StatusOf(%s): got %d, want %d", e.Code, got, e.Status)
		}
	}
	if got := StatusOf("no such code"); got != 500 {
		t.Errorf("StatusOf(unknown): got %d, want 500", got)
	}
	// PROTOCOL.md lists every code with its status.
	doc, err := os.ReadFile("../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Errors {
		if row := fmt.Sprintf("| %d | `%s` |", e.Status, e.Code); !strings.Contains(string(doc), row) {
			t.Errorf("PROTOCOL.md §7 has no row %q", row)
		}
	}
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{"Retry-After": {"7"}}
	if d, ok := RetryAfter(h, now); !ok || d != 7*time.Second {
		t.Errorf("Retry-After 7: got %v %v", d, ok)
	}
	h.Set("Retry-After", now.Add(time.Minute).UTC().Format(http.TimeFormat))
	if d, ok := RetryAfter(h, now); !ok || d != time.Minute {
		t.Errorf("Retry-After date: got %v %v", d, ok)
	}
}

func TestAckRanges(t *testing.T) {
	ev := func(ep, seq uint64) Event { return Event{Epoch: ep, Seq: seq} }
	events := []Event{ev(2, 9), ev(1, 3), ev(1, 1), ev(1, 2), ev(1, 5), ev(2, 10), ev(1, 5)}
	got := AckRanges(events)
	want := []Range{{1, 1, 3}, {1, 5, 5}, {2, 9, 10}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	r := BatchResponse{Acked: got}
	if !r.CoversAll(events) || r.Covers(1, 4) {
		t.Errorf("Covers wrong for %v", got)
	}
}
