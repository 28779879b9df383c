package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
)

// A problem keeps its English text (Error, Msg) and prints in Chinese
// with the same file:line, field and arguments.
func TestProblemsLocalize(t *testing.T) {
	for _, c := range []struct {
		yaml   string
		en, zh string
	}{
		{"gateway:\n  id: gw1\nlog:\n  level: loud\n",
			`x.yaml:4:3: log.level: unknown log level "loud" (want debug, info, warn or error)`,
			`x.yaml:4:3: log.level: 未知日志级别 "loud"（应为 debug、info、warn 或 error）`},
		{"gateway:\n  id: gw1\nstore:\n  history: soon\n", // an edge.Msgf from a type's parser
			`x.yaml:4:12: store.history: invalid duration "soon": want a number with a unit such as 500ms, 10s, 5m, 2h`,
			`x.yaml:4:12: store.history: 时长 "soon" 无效：应为带单位的数字，例如 500ms、10s、5m、2h`},
		{"gateway:\n  id: gw1\ninputs: {a: 1}\n",
			`x.yaml:3:10: inputs: want a list (- item), got a mapping (key: value)`,
			`x.yaml:3:10: inputs: 应为列表（- 项），实际为映射（键: 值）`},
		{"gateway:\n  id: gw1\nuplink:\n  url: ftp://x\n  key: " + strings.Repeat("a", 64) + "\n",
			`x.yaml:4:3: uplink.url: want an https:// (or http://) URL, got scheme "ftp"`,
			`x.yaml:4:3: uplink.url: 应为 https://（或 http://）URL，实际协议为 "ftp"`},
		{"gateway:\n  id: gw1\nrules:\n  - name: a\n    when: \"true\"\n  - name: a\n    when: \"true\"\n",
			`x.yaml:6:5: rules[1].name: duplicate rule name "a" (also rules[0])`,
			`x.yaml:6:5: rules[1].name: 规则名称 "a" 重复（rules[0] 也用了）`},
	} {
		_, err := config.Parse("x.yaml", []byte(c.yaml))
		var e *config.Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: got %v, want a *config.Error", c.yaml, err)
		}
		if got := e.Error(); got != c.en {
			t.Errorf("Error: got %q, want %q", got, c.en)
		}
		if got := e.Localize(i18n.EN); got != c.en {
			t.Errorf("Localize(en): got %q, want %q", got, c.en)
		}
		if got := e.Localize(i18n.ZH); got != c.zh {
			t.Errorf("Localize(zh-CN): got %q, want %q", got, c.zh)
		}
		if got := i18n.ErrorText(i18n.ZH, errors.Join(err, err)); got != c.zh+"\n"+c.zh {
			t.Errorf("ErrorText of a join: got %q", got)
		}
	}
}
