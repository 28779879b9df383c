// Package deptest checks the direction of imports between the project's
// packages (Tailscale's deptest): edge is the domain and imports neither
// drivers nor sync; sync/wire imports nothing of the project; the receiver
// needs no device code; no package is named sync.
package deptest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/edgegw/edgegw"

type pkg struct {
	ImportPath string
	Name       string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T, goos string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func TestImportDirection(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range listPackages(t, goos) {
			me := rel(p.ImportPath)
			if p.Name == "sync" {
				t.Errorf("%s: package named sync shadows the standard library", me)
			}
			for _, dep := range p.Deps {
				if !strings.HasPrefix(dep, module+"/") {
					continue
				}
				d := rel(dep)
				switch {
				case under(me, "edge") && (under(d, "drivers") || under(d, "sync") || under(d, "cmd")):
					t.Errorf("%s (%s) imports %s: edge must not depend on drivers, sync or cmd", me, goos, d)
				case under(me, "sync/wire"):
					t.Errorf("%s (%s) imports %s: sync/wire must import nothing of this project", me, goos, d)
				case under(me, "sync/receiver") && (under(d, "drivers") || under(d, "edge")):
					t.Errorf("%s (%s) imports %s: the receiver needs no device or gateway code", me, goos, d)
				case under(me, "drivers") && (under(d, "sync") || under(d, "cmd")):
					t.Errorf("%s (%s) imports %s: drivers must not depend on sync or cmd", me, goos, d)
				}
			}
		}
	}
}
