package password

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	enc, err := NewWithIterations("s3cret pass", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "pbkdf2-sha256$10000$") {
		t.Fatalf("got %q, want pbkdf2-sha256$10000$ prefix", enc)
	}
	h, err := Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("s3cret pass") {
		t.Error("right password rejected")
	}
	for _, bad := range []string{"", "s3cret", "s3cret pass ", "S3cret pass"} {
		if h.Verify(bad) {
			t.Errorf("wrong password %q accepted", bad)
		}
	}
	enc2, _ := NewWithIterations("s3cret pass", MinIterations)
	if enc2 == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if h.String() != enc {
		t.Errorf("round trip: got %q, want %q", h.String(), enc)
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := NewWithIterations("x", MinIterations)
	p := strings.Split(good, "$")
	for name, s := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuv",
		"scheme":       "pbkdf2-sha1$" + p[1] + "$" + p[2] + "$" + p[3],
		"few iter":     "pbkdf2-sha256$1000$" + p[2] + "$" + p[3],
		"huge iter":    "pbkdf2-sha256$99999999999$" + p[2] + "$" + p[3],
		"salt base64":  "pbkdf2-sha256$" + p[1] + "$!!!$" + p[3],
		"short hash":   "pbkdf2-sha256$" + p[1] + "$" + p[2] + "$AAAA",
		"extra field":  good + "$x",
		"plain secret": "hunter2",
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("%s: Parse(%q) accepted", name, s)
		}
	}
}

// FuzzParse: the hash comes from a config file an installer edited.
func FuzzParse(f *testing.F) {
	good, _ := NewWithIterations("x", MinIterations)
	f.Add(good)
	f.Add("pbkdf2-sha256$600000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("pbkdf2-sha256$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			return
		}
		if h.Iterations < MinIterations || h.Iterations > MaxIterations {
			t.Fatalf("accepted iterations %d", h.Iterations)
		}
		if _, err := Parse(h.String()); err != nil {
			t.Fatalf("re-parse of %q: %v", h.String(), err)
		}
	})
}
