package wire

import (
	"net/http"
	"testing"
	"time"
)

// FuzzRetryAfter feeds the Retry-After parser (a header from the network)
// arbitrary text: it must never panic, never return a negative wait, and
// never more than a day.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Fri, 31 Dec 1999 23:59:59 GMT", "Mon, 02 Jan 2006 15:04:05 GMT",
		"99999999999999999999", "9223372036", "1e9", " 30 ", "Sun, 06 Nov 1994 08:49:37 GMT garbage", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := RetryAfter(http.Header{"Retry-After": {s}}, now)
		if d < 0 || d > MaxRetryAfter || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"0", 0, true}, {"120", 120 * time.Second, true}, {" 7 ", 7 * time.Second, true}, {"-1", 0, false},
		{"9223372036", MaxRetryAfter, true}, {"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
	} {
		got, ok := RetryAfter(http.Header{"Retry-After": {tc.in}}, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryAfter(%q): got %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
