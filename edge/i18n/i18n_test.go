package i18n

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
)

var placeholder = regexp.MustCompile(`\{\{[^}]*\.([A-Za-z]+)[^}]*\}\}`)

func names(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Every message is in both languages, with the same placeholders, and
// parses as a template.
func TestCatalogsComplete(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	en, zh := Catalog(EN, ""), Catalog(ZH, "")
	if len(en) < 50 {
		t.Fatalf("only %d English messages", len(en))
	}
	for k, v := range en {
		z, ok := zh[k]
		switch {
		case !ok:
			t.Errorf("%s: no zh-CN translation", k)
		case strings.TrimSpace(z) == "" || strings.TrimSpace(v) == "":
			t.Errorf("%s: empty message", k)
		case !slices.Equal(names(v), names(z)):
			t.Errorf("%s: placeholders %v in en, %v in zh-CN", k, names(v), names(z))
		}
		for lang, s := range map[string]string{"en": v, "zh-CN": z} {
			if _, err := template.New(k).Parse(s); err != nil {
				t.Errorf("%s (%s): %v", k, lang, err)
			}
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%s: only in zh-CN", k)
		}
	}
}

// Every key the code and the status page name exists: a message with no
// translation fails here, not in front of a technician.
func TestEveryUsedKeyExists(t *testing.T) {
	en := Catalog(EN, "")
	goKey := regexp.MustCompile(`"((?:finding|hint|page|cli)\.[A-Za-z_.]+[a-z_]|status\.(?:health|verdict)[A-Za-z_.]*)"`)
	jsKey := regexp.MustCompile(`\bt\("(page\.[A-Za-z_.]+)"`)
	root := filepath.Join("..", "..")
	used := map[string]string{}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "third_party" || d.Name() == "node_modules") {
			if d != nil && d.IsDir() && path != root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".html")) || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		re := goKey
		if strings.HasSuffix(path, ".html") {
			re = jsKey
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !strings.HasSuffix(m[1], ".") { // a prefix joined at run time
				used[m[1]] = path
			}
		}
		return nil
	})
	if len(used) < 20 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for k, where := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("%s (used in %s): no such message", k, where)
		}
	}
	// The keys made at run time.
	for _, k := range []string{"severity.critical", "severity.warning", "severity.info", "state.firing", "state.acknowledged",
		"central.unreachable", "central.rejecting", "central.stalled", "status.verdict.OK", "status.verdict.DEGRADED", "status.verdict.CRITICAL"} {
		if _, ok := en[k]; !ok {
			t.Errorf("%s: no such message", k)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		prefs []string
		want  Lang
	}{
		{nil, EN},
		{[]string{"zh-CN,zh;q=0.9,en;q=0.8"}, ZH},
		{[]string{"en-US,en;q=0.9"}, EN},
		{[]string{"zh_CN.UTF-8"}, ZH},
		{[]string{"zh-Hans"}, ZH},
		{[]string{"zh"}, ZH},
		{[]string{"C.UTF-8"}, EN},
		{[]string{"", "zh_CN.UTF-8"}, ZH},
		{[]string{"fr-FR"}, EN},
		{[]string{"de;q=x, %%%"}, EN},
	} {
		if got := Match(c.prefs...); got != c.want {
			t.Errorf("Match(%q) = %s, want %s", c.prefs, got, c.want)
		}
	}
	if got := T(ZH, "finding.device_offline", map[string]any{"Device": "door-1", "For": "5m0s"}); got != "设备 door-1 离线已 5m0s" {
		t.Errorf("zh: %q", got)
	}
	if got := T(EN, "no.such.key", nil); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
}

func TestExplicit(t *testing.T) {
	for _, c := range []struct {
		env  string
		want Lang
		ok   bool
	}{
		{"zh_CN.UTF-8", ZH, true}, {"zh_TW.UTF-8", ZH, true}, {"en_US.UTF-8", EN, true}, {"en", EN, true},
		{"", "", false}, {"C", "", false}, {"POSIX", "", false}, {"C.UTF-8", "", false}, {"fr_FR.UTF-8", "", false},
	} {
		if got, ok := Explicit(c.env); got != c.want || ok != c.ok {
			t.Errorf("Explicit(%q) = %q, %v, want %q, %v", c.env, got, ok, c.want, c.ok)
		}
	}
}
