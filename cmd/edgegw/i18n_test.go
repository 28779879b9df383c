package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// edgegwLang runs edgegw with LANG=lang (LC_ALL and LC_MESSAGES unset).
func edgegwLang(t *testing.T, lang string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return edgegwEnv(t, []string{"LANG=" + lang}, args...)
}

var han = regexp.MustCompile(`\p{Han}`)

// validate prints every problem of a bad config in the language of LANG,
// each with its file:line:col, and exits 78 in both.
func TestValidateInChineseAndEnglish(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, yaml string
		line       string // the file:line:col of the first problem
		en, zh     string // a part of its message
	}{
		{"bad id", "gateway:\n  id: \"bad id\"\n", ":2:3: gateway.id: ", `gateway id "bad id": use 1-64 letters`, `网关 ID "bad id"：请使用 1-64 个字母`},
		{"unknown key", "gateway:\n  id: gw1\n  colour: blue\n", ":3:3: gateway.colour: ", `unknown field "colour"`, `未知字段 "colour"`},
		{"suggestion", "gateway:\n  id: gw1\nstore:\n  cpa: 1GiB\n", ":4:3: store.cpa: ", `unknown field "cpa" (did you mean "cap"?)`, `未知字段 "cpa"（是不是想写 "cap"？）`},
		{"wrong type", "gateway:\n  id: gw1\ninputs: 3\n", ":3:9: inputs: ", "want a list (- item), got integer 3", "应为列表（- 项），实际为整数 3"},
		{"empty", "# nothing\n", ":1:1: ", "the config is empty", "配置文件为空"},
		{"modbus slave", "gateway:\n  id: gw1\ninputs:\n  - name: m\n    driver: modbus\n    options:\n      port: /dev/ttyUSB0\n      devices:\n        - id: d1\n          slave: 300\n          points: [{name: t, address: 1}]\n",
			":10:11: inputs[0].options.devices[0].slave: ", "slave address 300 out of range 1..247", "从站地址 300 超出范围 1..247"},
		{"unknown driver", "gateway:\n  id: gw1\ninputs:\n  - name: x\n    driver: nosuch\n", ":5:5: inputs[0].driver: ", `unknown driver "nosuch"`, `未知驱动 "nosuch"`},
		{"rule", "gateway:\n  id: gw1\nrules:\n  - name: r\n    when: \"true\"\n    severity: loud\n", ":6:5: rules[0].severity: ", `unknown severity "loud"`, `未知告警级别 "loud"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, l := range []struct{ lang, want, notValid string }{
				{"C", c.en, "is not valid"},
				{"en_US.UTF-8", c.en, "is not valid"},
				{"zh_CN.UTF-8", c.zh, "配置无效"},
			} {
				_, stderr, code := edgegwLang(t, l.lang, "validate", path)
				if code != 78 {
					t.Errorf("LANG=%s: exit %d, want 78\n%s", l.lang, code, stderr)
				}
				if !strings.Contains(stderr, path+c.line+l.want) {
					t.Errorf("LANG=%s: got\n%s\nwant a line with %q", l.lang, stderr, path+c.line+l.want)
				}
				if !strings.Contains(stderr, l.notValid) {
					t.Errorf("LANG=%s: got\n%s\nwant %q", l.lang, stderr, l.notValid)
				}
				if zh := han.MatchString(stderr); zh != (l.lang == "zh_CN.UTF-8") {
					t.Errorf("LANG=%s: Chinese in the output is %v:\n%s", l.lang, zh, stderr)
				}
			}
		})
	}
}

// LC_ALL wins over LANG, as in every POSIX program.
func TestLanguageFromLCAll(t *testing.T) {
	cmd := exec.Command(edgegwBin, "validate", filepath.Join(t.TempDir(), "absent.yaml"))
	cmd.Env = append(os.Environ(), "LANG=C", "LC_ALL=zh_CN.UTF-8")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 78 || !strings.Contains(string(out), "无法读取配置文件") {
		t.Errorf("exit %d, got\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

// The help lists the commands in Chinese under zh_CN, in English else.
func TestHelpInChinese(t *testing.T) {
	out, _, code := edgegwLang(t, "zh_CN.UTF-8", "help")
	if code != 0 || !strings.Contains(out, "检查配置文件；每个问题都标出 file:line") || !strings.Contains(out, "面向住宅小区的离线优先边缘网关") {
		t.Errorf("exit %d, got\n%s", code, out)
	}
	out, _, _ = edgegwLang(t, "C", "help")
	if han.MatchString(out) {
		t.Errorf("LANG=C help has Chinese:\n%s", out)
	}
	out, _, _ = edgegwLang(t, "zh_CN.UTF-8", "probe", "--help")
	if !strings.Contains(out, "用法：edgegw probe <命令>") || !strings.Contains(out, "在写入配置之前，先直接与某个设备通信") {
		t.Errorf("probe --help in zh-CN:\n%s", out)
	}
	_, stderr, code := edgegwLang(t, "zh_CN.UTF-8", "init", "a", "b")
	if code != 64 || !strings.Contains(stderr, "最多一个文件") {
		t.Errorf("init a b: exit %d, got\n%s", code, stderr)
	}
}

// run refuses a config whose driver options are wrong in the language of
// LANG too, with the file:line, and exits 78.
func TestRunRefusesInChinese(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	cfg := "gateway:\n  id: gw1\nstore:\n  dir: " + filepath.Join(dir, "data") + "\nstatus:\n  listen: \"off\"\n" +
		"inputs:\n  - name: m\n    driver: modbus\n    options:\n      port: /dev/ttyUSB0\n      devices:\n        - id: d1\n          slave: 300\n          points: [{name: t, address: 1}]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := edgegwLang(t, "zh_CN.UTF-8", "run", "--config", path)
	if want := path + ":14:11: inputs[0].options.devices[0].slave: 从站地址 300 超出范围 1..247"; code != 78 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, got\n%s\nwant 78 and %q", code, stderr, want)
	}
}

var flagName = regexp.MustCompile(`(?m)^[ \t]+(-\w, )?(--[\w-]+)( \S+)?`)

// The long help and the flags' descriptions are in Chinese under zh_CN,
// with the same flags and placeholders; under C they have no Chinese.
func TestLongHelpInChinese(t *testing.T) {
	for _, c := range []struct {
		args []string
		zh   string // a part of the Chinese help
	}{
		{[]string{"init", "--help"}, "为真实小区写出一份带注释的示例配置"},
		{[]string{"probe", "modbus", "--help"}, "读取 Modbus 从站的一块数据一次"},
		{[]string{"output", "test", "--help"}, "用测试操作驱动配置中的某个输出一次"},
		{[]string{"service", "install", "--help"}, "把 edgegw 作为操作系统服务管理"},
		{[]string{"completion", "--help"}, "为指定的 shell 生成"},
	} {
		en, _, code := edgegwLang(t, "C", c.args...)
		if code != 0 || han.MatchString(en) {
			t.Errorf("LANG=C %v: exit %d, Chinese in\n%s", c.args, code, en)
		}
		zh, _, code := edgegwLang(t, "zh_CN.UTF-8", c.args...)
		if code != 0 || !strings.Contains(zh, c.zh) || !strings.Contains(zh, "用法：") {
			t.Errorf("LANG=zh_CN.UTF-8 %v: exit %d, want %q in\n%s", c.args, code, c.zh, zh)
		}
		enFlags, zhFlags := flagName.FindAllString(en, -1), flagName.FindAllString(zh, -1)
		if strings.Join(enFlags, "\n") != strings.Join(zhFlags, "\n") || len(enFlags) == 0 {
			t.Errorf("%v: the flags differ:\nC:     %q\nzh_CN: %q", c.args, enFlags, zhFlags)
		}
		// Each flag's description is translated.
		for _, line := range strings.Split(zh[strings.Index(zh, "选项："):], "\n")[1:] {
			if strings.TrimSpace(line) != "" && !han.MatchString(line) {
				t.Errorf("%v: a flag's description is not translated: %q", c.args, line)
			}
		}
	}
}

// Cobra's own lines: an unknown flag, the help command.
func TestCobraWordsInChinese(t *testing.T) {
	_, stderr, code := edgegwLang(t, "zh_CN.UTF-8", "init", "--nosuch")
	if code != 64 || !strings.Contains(stderr, "未知选项：--nosuch") {
		t.Errorf("exit %d, got\n%s", code, stderr)
	}
	_, stderr, _ = edgegwLang(t, "C", "init", "--nosuch")
	if !strings.Contains(stderr, "usage: unknown flag: --nosuch") {
		t.Errorf("LANG=C: got\n%s", stderr)
	}
}

// gateway.language chooses the CLI's language when the environment names
// none (C, or unset); an explicit LANG wins.
func TestConfigLanguage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte("gateway:\n  id: \"bad id\"\n  language: zh-CN\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, want string }{
		{"C", "网关 ID \"bad id\""},
		{"", "网关 ID \"bad id\""},
		{"en_US.UTF-8", "gateway id \"bad id\""},
		{"zh_CN.UTF-8", "网关 ID \"bad id\""},
	} {
		_, stderr, code := edgegwLang(t, c.lang, "validate", path)
		if code != 78 || !strings.Contains(stderr, c.want) {
			t.Errorf("LANG=%q: exit %d, got\n%s\nwant %q", c.lang, code, stderr, c.want)
		}
	}
	os.WriteFile(path, []byte("gateway:\n  id: gw1\n  language: fr\n"), 0o644)
	_, stderr, code := edgegwLang(t, "C", "validate", path)
	if code != 78 || !strings.Contains(stderr, `gateway.language: unknown language "fr": use en or zh-CN`) {
		t.Errorf("language fr: exit %d, got\n%s", code, stderr)
	}
}
