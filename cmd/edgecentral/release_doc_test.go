package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/sync/wire"
)

const releasesDoc = "../../docs/releases-central.md"

// docShellCommands returns the edgecentral commands of the code blocks of
// a doc, each split into words as sh would ("..." quoting only).
func docShellCommands(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in || !strings.HasPrefix(l, "edgecentral ") {
			continue
		}
		var words []string
		var cur strings.Builder
		quoted, has := false, false
		for _, c := range l {
			switch {
			case c == '"':
				quoted, has = !quoted, true
			case c == ' ' && !quoted:
				if has {
					words = append(words, cur.String())
				}
				cur.Reset()
				has = false
			default:
				cur.WriteRune(c)
				has = true
			}
		}
		if has {
			words = append(words, cur.String())
		}
		out = append(out, words[1:])
	}
	return out
}

// TestReleaseDocCommands runs the commands of docs/releases-central.md as
// written there, in order, against a running central with the doc's
// gateways and release files: the doc and the commands cannot drift apart.
func TestReleaseDocCommands(t *testing.T) {
	cmds := docShellCommands(t, releasesDoc)
	doc, _ := os.ReadFile(releasesDoc)
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in %s", len(cmds), releasesDoc)
	}
	dir := t.TempDir()
	keys := map[string]wire.Key{}
	for _, cp := range []string{"cp07", "cp08", "cp09", "cp10"} {
		out, stderr, code := run(t, context.Background(), "gateways", "add", "gw-"+cp, "--place", "putuo/caoyang/c012/"+cp, "--data", dir)
		m := keyRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("gateways add: %d %s %s", code, out, stderr)
		}
		keys["gw-"+cp], _ = wire.ParseKey(m[1])
	}
	url := serveInProcess(t, dir)
	files := t.TempDir()
	artifact, manifest, _ := writeRelease(t, files, "1.5.0", "linux", "arm", "7", 20000)
	paths := map[string]string{"edgegw-1.5.0-linux-arm7": artifact, "edgegw-1.5.0-linux-arm7.manifest": manifest}
	for gw, k := range keys {
		releaseHeartbeat(t, url, gw, k, &wire.UpdateStatus{Running: "1.4.0", State: wire.UpdateIdle, Platform: "linux/arm/7"})
	}
	rolloutID := ""
	ran := 0
	for _, c := range cmds {
		if c[0] == "serve" {
			continue // long-running: its flags are checked below
		}
		args := make([]string, 0, len(c)+2)
		for _, a := range c {
			if p, ok := paths[a]; ok {
				a = p
			}
			if a == "r-1765000000" {
				if rolloutID == "" {
					t.Fatalf("%v: the doc names a rollout before it starts one", c)
				}
				a = rolloutID
			}
			args = append(args, a)
		}
		out, stderr, code := run(t, context.Background(), append(args, "--url", url)...)
		if code != 0 {
			t.Fatalf("edgecentral %s: exit %d\n%s%s", strings.Join(c, " "), code, out, stderr)
		}
		if m := regexp.MustCompile(`rollout (r-\S+) started`).FindStringSubmatch(out); m != nil && rolloutID == "" {
			rolloutID = m[1]
		}
		t.Logf("edgecentral %s\n%s", strings.Join(c, " "), out)
		// The outputs the doc shows are these commands' (their first line).
		if c[0] == "release" && (c[1] == "push" || c[1] == "rollout" && slices.Contains(c, "--place")) {
			first := strings.SplitN(out, "\n", 2)[0]
			if rolloutID != "" {
				first = strings.ReplaceAll(first, rolloutID, "r-1765000000")
			}
			if !strings.Contains(string(doc), first+"\n") {
				t.Errorf("the doc does not show the output of edgecentral %s: %q", strings.Join(c, " "), first)
			}
		}
		ran++
	}
	if rolloutID == "" || ran < 10 {
		t.Fatalf("ran %d commands, rollout %q", ran, rolloutID)
	}
	// The serve line: its flags exist.
	for _, c := range cmds {
		if c[0] == "serve" {
			if _, stderr, code := run(t, context.Background(), append(c, "--help")...); code != 0 {
				t.Errorf("edgecentral %s --help: exit %d %s", strings.Join(c, " "), code, stderr)
			}
		}
	}
}
