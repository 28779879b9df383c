package uplink

import (
	"testing"
	"time"
)

// FuzzRetryAfter feeds the Retry-After parser (a header from the network)
// arbitrary text: it must never panic, never return a negative wait, and
// never more than a day.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Fri, 31 Dec 1999 23:59:59 GMT", "Mon, 02 Jan 2006 15:04:05 GMT",
		"99999999999999999999", "1e9", " 30 ", "Sun, 06 Nov 1994 08:49:37 GMT garbage"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := RetryAfter(s, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v", s, d, ok)
		}
		if d > 24*time.Hour && len(s) < 12 {
			t.Fatalf("RetryAfter(%q) = %v: over a day from a number", s, d)
		}
		if got := Backoff(time.Minute)(time.Millisecond, time.Second, 3, nil); got < 0 || got > time.Second {
			t.Fatalf("backoff %v out of range", got)
		}
	})
}

// FuzzErrMsg feeds the error-message extractor arbitrary answer bodies.
func FuzzErrMsg(f *testing.F) {
	for _, s := range []string{"", `{"error":"bad batch","code":"bad_batch"}`, "plain text\nsecond line", `{"error":"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := errMsg(b); len(m) > 200 && len(m) > len(b) {
			t.Fatalf("errMsg grew the body: %d > %d", len(m), len(b))
		}
	})
}
