package uplink

import (
	"testing"
)

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
