//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
)

// docCommand is one `edgegw ...` or `edgecentral ...` command shown in the
// docs, with where it was found.
type docCommand struct {
	where string // file:line
	args  []string
	bin   string // edgegw or edgecentral
}

var (
	fence      = regexp.MustCompile("^\\s*```\\s*([a-z]*)")
	inlineCode = regexp.MustCompile("`([^`]+)`")
	cmdStart   = regexp.MustCompile(`^(?:\$ )?(?:sudo )?(?:go run \./cmd/)?(edgegw|edgecentral)(?: |$)`)
)

// docCommands extracts the commands of README.md and docs/*.md: the lines
// of shell code blocks, and inline code that starts with a command.
// Syntax summaries (<...>, [...], a|b, "...") are not commands.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inBlock, shell := false, false
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			if m := fence.FindStringSubmatch(line); m != nil {
				if !inBlock {
					inBlock, shell = true, m[1] == "sh" || m[1] == "bash" || m[1] == "shell" || m[1] == "console"
				} else {
					inBlock = false
				}
				continue
			}
			where := fmt.Sprintf("%s:%d", strings.TrimPrefix(f, "../../"), i+1)
			var cands []string
			if inBlock {
				if !shell {
					continue
				}
				c := strings.TrimSpace(line)
				for strings.HasSuffix(c, "\\") && i+1 < len(lines) {
					i++
					c = strings.TrimSuffix(c, "\\") + " " + strings.TrimSpace(lines[i])
				}
				cands = append(cands, c)
			} else {
				for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
					cands = append(cands, m[1])
				}
			}
			for _, c := range cands {
				c = strings.TrimSpace(c)
				m := cmdStart.FindStringSubmatch(c)
				if m == nil {
					continue
				}
				if k := strings.Index(c, " #"); k >= 0 {
					c = strings.TrimSpace(c[:k])
				}
				if strings.ContainsAny(c, "<>[]|") || strings.Contains(c, "...") || strings.Contains(c, ": ") {
					continue // a syntax summary or a message, not a command
				}
				fields := strings.Fields(c[strings.Index(c, m[1]):])
				if len(fields) < 2 {
					continue // the bare name in prose
				}
				out = append(out, docCommand{where: where, bin: m[1], args: fields[1:]})
			}
		}
	}
	return out
}

// TestDocumentedCommands runs every edgegw and edgecentral command the
// README and docs/*.md show, as an installer would copy it: against a
// config from `edgegw init` (placeholders such as FILE and NAME filled in,
// /etc/edgegw/edgegw.yaml replaced by it) and a gateway running it. A
// command that needs hardware or changes the system (a serial port, the
// OS service) is run with --help, which still checks its name and flags.
// Long-running commands (run, demo, serve, tail) pass when they are still
// running after a few seconds.
func TestDocumentedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every documented command")
	}
	cmds := docCommands(t)
	if len(cmds) < 15 {
		t.Fatalf("found only %d documented commands: the extraction is broken", len(cmds))
	}
	dir := t.TempDir()
	central := filepath.Join(dir, "edgecentral")
	if out, err := exec.Command("go", "build", "-o", central, "../edgecentral").CombinedOutput(); err != nil {
		t.Fatalf("build edgecentral: %v\n%s", err, out)
	}
	// The site: the example config, with its data and status address here.
	cfg := filepath.Join(dir, "edgegw.yaml")
	if _, stderr, code := edgegw(t, "init", cfg); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	b, _ := os.ReadFile(cfg)
	addr := freeAddr(t)
	text := string(b)
	text = regexp.MustCompile(`(?m)^(\s*)listen: 127\.0\.0\.1:8780`).ReplaceAllString(text, "${1}listen: "+addr)
	text = regexp.MustCompile(`(?m)^  dir: /var/lib/edgegw`).ReplaceAllString(text, "  dir: "+filepath.Join(dir, "data"))
	if !strings.Contains(text, addr) || !strings.Contains(text, filepath.Join(dir, "data")) {
		t.Fatalf("could not point the example config at %s and %s:\n%s", addr, dir, text)
	}
	// The camera listener of the example: a free port here, not :8090 on
	// every interface.
	text = strings.ReplaceAll(text, `listen: ":8090"`, `listen: "`+freeAddr(t)+`"`)
	os.WriteFile(cfg, []byte(text), 0o644)
	if _, stderr, code := edgegw(t, "validate", cfg); code != 0 {
		t.Fatalf("the example config does not validate here: %s", stderr)
	}
	gw := exec.Command(edgegwBin, "run", "--config", cfg)
	stderr, _ := gw.StderrPipe()
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })
	logs := watchLog(stderr)
	logs.waitFor(t, 30*time.Second, "status server listening", "gateway running")
	// A central for the edgecentral commands (EDGECENTRAL_URL below).
	caddr := freeAddr(t)
	cs := exec.Command(central, "serve", "--listen", caddr, "--data", filepath.Join(dir, "central-running"), "--log-level", "warn")
	if err := cs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Process.Kill(); cs.Wait() })
	poll(t, 30*time.Second, "the central's /readyz", func() bool {
		resp, err := http.Get("http://" + caddr + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	// The gateway the docs' central commands name.
	if out, err := exec.Command(central, "gateways", "add", "gw-compound-7", "--url", "http://"+caddr).CombinedOutput(); err != nil {
		t.Fatalf("edgecentral gateways add gw-compound-7: %v\n%s", err, out)
	}
	// The binary the release commands of docs/central.md sign and verify
	// (relative paths: the commands run in dir).
	os.WriteFile(filepath.Join(dir, "edgegw-linux-arm7"), []byte("an edgegw binary for linux/arm/7\n"), 0o755)
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(`{"ts":"2026-12-05T21:00:00+08:00","kind":"state","dev":"door-b3-u2-h301","pt":"door","text":"open","v":1}`+"\n"), 0o644)
	// A second site for the commands that start a gateway of their own.
	cfg2 := filepath.Join(dir, "second.yaml")
	text2 := regexp.MustCompile(`listen: "127\.0\.0\.1:\d+"`).ReplaceAllStringFunc(text, func(string) string { return `listen: "` + freeAddr(t) + `"` })
	os.WriteFile(cfg2, []byte(strings.NewReplacer(addr, freeAddr(t), filepath.Join(dir, "data"), filepath.Join(dir, "data2")).Replace(text2)), 0o644)

	fill := func(args []string) []string {
		out := make([]string, 0, len(args))
		for i, a := range args {
			switch {
			case a == "/etc/edgegw/edgegw.yaml" || a == "FILE" && (i == 0 || args[i-1] != "init") || a == "x.yaml" || a == "edgegw.yaml":
				a = cfg
			case a == "FILE" || strings.HasSuffix(a, ".yaml") && i > 0 && args[0] == "init":
				a = filepath.Join(dir, fmt.Sprintf("init-%d.yaml", time.Now().UnixNano()))
			case a == "FILE.jsonl":
				a = events
			case a == "NAME":
				a = "siren"
			case a == "DEVICE":
				a = "door-b2-u1-h201"
			case a == "COMMAND":
				a = "status"
			case strings.HasPrefix(a, "/var/lib/edgecentral"):
				a = filepath.Join(dir, "central-data")
			}
			out = append(out, a)
		}
		return out
	}
	helpOnly := func(c docCommand) bool {
		s := strings.Join(c.args, " ")
		for _, p := range []string{"service install", "service uninstall", "service start", "service stop", "service restart", "service status", "probe ", "learn "} {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return strings.Contains(s, "/dev/tty") || regexp.MustCompile(`\bCOM\d`).MatchString(s) || c.args[0] == "output"
	}
	longRun := func(c docCommand) bool {
		return slices.Contains([]string{"run", "demo", "serve", "tail"}, c.args[0]) || strings.HasPrefix(strings.Join(c.args, " "), "service run")
	}
	root := app.Cobra(&cli.Env{Stdout: io.Discard, Stderr: io.Discard}, nil)
	seen := map[string]bool{}
	for _, c := range cmds {
		args := fill(c.args)
		mode := "run"
		if c.bin == "edgegw" {
			found, _, err := root.Find(args)
			if err != nil || found == root || !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(args[0]) {
				continue // prose that quotes the program's name ("edgegw (pid 123)"), not a command
			}
			if !found.Runnable() || found.Annotations["group"] != "" {
				args = append(args, "--help") // a group named in prose ("edgegw probe")
			}
		}
		switch {
		case slices.Contains(args, "--help") || slices.Contains(args, "-h") || args[0] == "help":
		case helpOnly(c):
			args, mode = append(args, "--help"), "help"
		case longRun(c):
			mode = "long"
		}
		if mode == "long" {
			for i, a := range args {
				if a == cfg {
					args[i] = cfg2
				}
			}
			// A server started by the docs' command gets a free port, not
			// the default one another program on the box may hold.
			if c.bin == "edgecentral" && args[0] == "serve" && !slices.Contains(args, "--listen") {
				args = append(args, "--listen", freeAddr(t))
			}
		}
		key := c.bin + " " + strings.Join(args, " ")
		if seen[key] {
			continue
		}
		seen[key] = true
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			bin := edgegwBin
			if c.bin == "edgecentral" {
				bin = central
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = dir
			// The packages' config path is this site's (status, diag, a bare
			// validate find it); a command that starts a gateway gets the
			// second site's.
			site := cfg
			if mode == "long" {
				site = cfg2
			}
			cmd.Env = append(os.Environ(), "EDGEGW_CONFIG="+site, "EDGECENTRAL_URL=http://"+caddr)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			if mode == "long" {
				select {
				case err = <-done:
				case <-time.After(4 * time.Second):
					cmd.Process.Kill()
					<-done
					return // still running: it started
				}
			} else {
				err = <-done
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("%s: %v", c.where, err)
			}
			ok := code == 0
			if args[0] == "status" && mode == "run" {
				ok = slices.Contains([]int{0, 4, 5}, code) // the site's devices are not wired here: degraded
			}
			if !ok {
				t.Errorf("%s: `%s %s` (run as %q) exit %d:\n%s", c.where, c.bin, strings.Join(c.args, " "), args, code, firstLines(out.String(), 15))
			}
		})
	}
}

func firstLines(s string, n int) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}
