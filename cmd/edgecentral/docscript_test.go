package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/internal/centralbench"
)

// The cluster tests run the three-node examples of docs/central.md as
// they are written there (docBlock, parseScript), on free ports and in
// temp directories (docPorts, docPaths): the doc and the tests cannot
// drift apart.

const centralDoc = "../../docs/central.md"

// docBlock returns the text of the first fenced code block of
// docs/central.md after the first line containing after (whose first line
// contains first, when first is not "").
func docBlock(t *testing.T, after, first string) string {
	t.Helper()
	b, err := os.ReadFile(centralDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i := 0; i < len(lines); i++ {
		if !found {
			found = strings.Contains(lines[i], after)
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "```") {
			continue
		}
		var block []string
		for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
			block = append(block, lines[i])
		}
		if first == "" || len(block) > 0 && strings.Contains(block[0], first) {
			return strings.Join(block, "\n") + "\n"
		}
	}
	t.Fatalf("%s: no code block after %q starting with %q", centralDoc, after, first)
	return ""
}

// docCmd is one command of a doc's shell block: its environment prefix
// (VAR=value ...) and its words, variables expanded.
type docCmd struct {
	env  []string
	args []string
}

func (c docCmd) String() string {
	return strings.Join(append(append([]string{}, c.env...), c.args...), " ")
}

var assign = regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(\S*)$`)

// parseScript reads a block of shell lines the way sh would for the
// subset the docs use: `\` continuations, `# comments`, a trailing `&`,
// VAR=value lines and prefixes, $VAR.
func parseScript(t *testing.T, block string) []docCmd {
	t.Helper()
	vars := map[string]string{}
	var out []docCmd
	lines := strings.Split(block, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		if k := strings.Index(l, "#"); k >= 0 && (k == 0 || l[k-1] == ' ') {
			l = l[:k]
		}
		l = strings.TrimSuffix(strings.TrimSpace(l), "&")
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if m := assign.FindStringSubmatch(f[0]); m != nil && len(f) == 1 {
			vars[m[1]] = m[2]
			continue
		}
		var c docCmd
		for j, w := range f {
			w = regexp.MustCompile(`\$([A-Z_][A-Z0-9_]*)`).ReplaceAllStringFunc(w, func(v string) string {
				x, ok := vars[v[1:]]
				if !ok {
					t.Fatalf("%s: %q uses $%s, which the block does not set", centralDoc, l, v[1:])
				}
				return x
			})
			if len(c.args) == 0 && assign.MatchString(w) && j < len(f)-1 {
				c.env = append(c.env, w)
				continue
			}
			c.args = append(c.args, w)
		}
		out = append(out, c)
	}
	return out
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// docPorts maps every loopback port the texts name to a free port; the
// returned function rewrites a text.
func docPorts(t *testing.T, texts ...string) func(string) string {
	t.Helper()
	seen := map[string]bool{}
	var ports []string
	for _, s := range texts {
		for _, m := range loopbackPort.FindAllStringSubmatch(s, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				ports = append(ports, m[1])
			}
		}
	}
	sort.Strings(ports)
	free, err := centralbench.FreePorts(len(ports))
	if err != nil {
		t.Fatal(err)
	}
	to := map[string]string{}
	for i, p := range ports {
		to[p] = strconv.Itoa(free[i])
	}
	return func(s string) string {
		return loopbackPort.ReplaceAllStringFunc(s, func(a string) string {
			return "127.0.0.1:" + to[strings.TrimPrefix(a, "127.0.0.1:")]
		})
	}
}

// docPaths rewrites the doc's data directories (/var/lib/...) into dir.
func docPaths(dir string) func(string) string {
	return strings.NewReplacer("/var/lib/edgecentral/", dir+"/edgecentral/", "/var/lib/edgegw-nats/", dir+"/nats/").Replace
}

// rewrite applies fs to each word of each command.
func rewrite(cmds []docCmd, fs ...func(string) string) []docCmd {
	out := make([]docCmd, len(cmds))
	for i, c := range cmds {
		out[i] = docCmd{env: c.env, args: make([]string, len(c.args))}
		for j, a := range c.args {
			for _, f := range fs {
				a = f(a)
			}
			out[i].args[j] = a
		}
	}
	return out
}

// flagValue is the value of --name in args ("" if absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// natsNodeConf makes node k's config from the doc's n1.conf, as the doc
// says: n2 and n3 differ in server_name, store_dir and the three ports
// (client, monitoring and route listen, each +k-1); the routes are the
// same.
func natsNodeConf(t *testing.T, n1 string, k int) string {
	t.Helper()
	lines := strings.Split(n1, "\n")
	changed := 0
	for i, l := range lines {
		switch {
		case regexp.MustCompile(`^\s*server_name: n1$`).MatchString(l),
			regexp.MustCompile(`^\s*store_dir: \S+/n1$`).MatchString(l):
			lines[i] = strings.TrimSuffix(l, "n1") + fmt.Sprint("n", k)
			changed++
		case regexp.MustCompile(`^\s*(listen|http): 127\.0\.0\.1:\d+$`).MatchString(l):
			m := loopbackPort.FindStringSubmatch(l)
			p, _ := strconv.Atoi(m[1])
			lines[i] = strings.Replace(l, m[0], fmt.Sprintf("127.0.0.1:%d", p+k-1), 1)
			changed++
		}
	}
	if changed != 5 {
		t.Fatalf("%s: n1.conf should have server_name, store_dir, listen, http and a cluster listen to change per node; changed %d lines", centralDoc, changed)
	}
	return strings.Join(lines, "\n")
}
