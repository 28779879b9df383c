package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

var edgeErrInvalidConfig = edge.ErrInvalidConfig

const head = "gateway: {id: gw1}\n"

// TestHostileInputs: each shape that costs the YAML library time or memory
// is refused before it is parsed or decoded, with one line that says where
// and why and shows no raw byte.
func TestHostileInputs(t *testing.T) {
	many := func(format string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	cases := []struct {
		name, src, want string
	}{
		{"nul", head + "log: {level: in\x00fo}\n", `gw.yaml:2:16: a NUL byte: a config is UTF-8 YAML text`},
		{"not utf-8", head + "log: {level: \xff\xfe info}\n", `gw.yaml:2:14: byte 0xff is not UTF-8 text (and 1 more bad characters)`},
		{"control", head + "log: {level: \x1b[31m}\n", `gw.yaml:2:14: control character U+001B`},
		{"utf-16", "\xff\xfeg\x00a\x00", `gw.yaml:1:1: the file is UTF-16 text`},
		{"deep flow", head + "rules: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", "gw.yaml:2:71: nested more than 64 levels deep"},
		{"deep block", head + "rules:\n" + strings.Repeat("- ", 100) + "x\n", "gw.yaml:3:127: nested more than 64 levels deep"},
		{"wide mapping", head + "store:\n" + many("  k%d: 1\n", 10_001), "gw.yaml:10003:3: more than 10,000 keys in the mapping that starts at line 3"},
		{"tokens", head + "rules: [" + strings.Repeat("1,", 130_000) + "1]\n", "gw.yaml:2:1: the config is too big: more than 250,000 YAML tokens"},
		{"alias bomb", head + "x: &a [1, 1, 1, 1, 1, 1, 1, 1]\n" + many("x%d: &a [*a, *a, *a, *a, *a, *a, *a, *a]\n", 8), "aliases expand the document past 1,048,576 nodes"},
		{"too many rules", head + "rules:\n" + many("  - {name: r%d}\n", 5001), "gw.yaml:5003:6: rules[5000]: too many rules: 5,001, the limit is 5,000"},
		{"rule text", head + "rules:\n  - name: r\n    when: '" + strings.Repeat("1 + ", 1100) + "1 > 0'\n", "gw.yaml:4:5: rules[0].when: 4,405 bytes long, the limit is 4,096"},
		{"rules text", head + "rules:\n" + many("  - {name: r%d, message: '"+strings.Repeat("x", 4000)+"'}\n", 300), "gw.yaml:264:6: rules[261]: the expressions and templates of the rules come to more than 1,048,576 bytes"},
		{"long key", head + "store: {\"" + strings.Repeat("\u202e", 500) + "\": 1}\n", `store.\u202e`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, edge.ErrInvalidConfig) {
				t.Errorf("%v: not edge.ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got\n%.600s\nwant it to contain %q", err, c.want)
			}
			checkPrintable(t, err.Error())
		})
	}
}

func checkPrintable(t *testing.T, s string) {
	t.Helper()
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 600 {
			t.Errorf("a line of %d bytes", len(l))
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u202e' || r == 0xfffd }) {
			t.Errorf("raw character in %q", l)
		}
	}
}

// TestBOM: a UTF-8 byte-order mark (Notepad) is not part of the first key.
func TestBOM(t *testing.T) {
	if _, err := config.Parse("gw.yaml", []byte("\xef\xbb\xbf"+head)); err != nil {
		t.Fatal(err)
	}
}

// TestFileSize: a file past MaxFileSize is refused from its size, before it
// is read; one that is read and found longer (a pipe) too.
func TestFileSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil { // sparse: nothing is written
		t.Fatal(err)
	}
	f.Close()
	_, err = config.Load(p)
	want := p + ": the config is too big: 52,428,800 bytes, the limit is 4,194,304 bytes (4 MiB); is it the right file?"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if !errors.Is(err, edge.ErrInvalidConfig) {
		t.Errorf("%v: not edge.ErrInvalidConfig", err)
	}
	if _, err := config.Parse("gw.yaml", make([]byte, config.MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "too big") {
		t.Errorf("Parse of a big buffer: %v", err)
	}
	if _, err := config.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Load of a directory: %v", err)
	}
}

// TestErrorListsFifty: an error prints MaxListed problems and counts the
// rest.
func TestErrorListsFifty(t *testing.T) {
	var b strings.Builder
	b.WriteString(head + "store:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  junk%d: 1\n", i)
	}
	_, err := config.Parse("gw.yaml", []byte(b.String()))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != config.MaxListed+1 || lines[len(lines)-1] != "... and 4,951 more problems" {
		t.Fatalf("got %d lines ending %q", len(lines), lines[len(lines)-1])
	}
	if !strings.HasPrefix(lines[0], `gw.yaml:3:3: store.junk0: unknown field "junk0"`) || !strings.HasPrefix(lines[48], "gw.yaml:51:3:") {
		t.Errorf("not sorted by line: %q ... %q", lines[0], lines[48])
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Len() != 5000 {
		t.Errorf("Len: got %d, want 5000", ce.Len())
	}
}

// TestLoadChecked: validate's one run shows the problems of the file, of
// the drivers and of the rule compiler together, sorted by line, each once.
func TestLoadChecked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(p, []byte(`gateway: {id: gw1}
store: {junk: 1}
inputs:
  - name: a
    driver: sim
    options: {buildings: 1000}
rules:
  - name: r
    when: "event.value >"
  - name: r
`), 0o644)
	check := func(c *config.Config) error {
		return errors.Join(config.CheckDrivers(c), c.Errorf("rules[0].when", "does not compile"), c.Errorf("rules[1].name", `duplicate rule name "r" (also rules[0])`))
	}
	_, err := config.LoadChecked(p, check)
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		p + `:2:9: store.junk: unknown field "junk"`,
		p + `:6:15: inputs[0].options.buildings:`,
		p + `:9:5: rules[0].when: does not compile`,
		p + `:10:5: rules[1].name: duplicate rule name "r" (also rules[0])`,
	}
	if len(got) != len(want) {
		t.Fatalf("got\n%s\nwant %d lines", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: got %q, want %q...", i, got[i], want[i])
		}
	}
	if !errors.Is(err, edge.ErrInvalidConfig) {
		t.Error("not edge.ErrInvalidConfig")
	}
}
