package main

import (
	"bytes"
	"errors"
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
	cmd := exec.Command(edgegwBin, args...)
	cmd.Env = append(os.Environ(), "LANG="+lang)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run edgegw %v: %v", args, err)
	}
	return o.String(), e.String(), code
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
