// Package deptest checks the direction of imports between the project's
// packages (Tailscale's deptest): edge is the domain and imports neither
// drivers nor sync; drivers depend on edge alone (no edge/* subpackage);
// edge/config is a leaf that depends on edge and the edge/* leaves only;
// sync/wire imports nothing of the project; the receiver needs no device
// code; no package is named sync; every package under cmd/ is a main.
package deptest

import (
	"encoding/json"
	"os/exec"
	"sort"
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

// edgeLeaves are the edge/* packages that import nothing of this project
// (TestLeaves checks it), so that edge/config and drivers may use them.
var edgeLeaves = map[string]bool{
	"edge/password": true,
	"edge/i18n":     true, // messages in zh-CN: drivers print probes in the user's language
}

func leafList() []string {
	var l []string
	for p := range edgeLeaves {
		l = append(l, p)
	}
	sort.Strings(l)
	return l
}

// TestLeaves: a leaf imports nothing of this project.
func TestLeaves(t *testing.T) {
	for _, p := range listPackages(t, "linux") {
		me := rel(p.ImportPath)
		if !edgeLeaves[me] {
			continue
		}
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, module+"/") {
				t.Errorf("%s imports %s: a leaf imports nothing of this project", me, rel(dep))
			}
		}
	}
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// TestGatewayLinksNoNATS: the gateway binary (and its `edgegw demo`, which
// embeds the Badger receiver) must not link the NATS server or client: the
// JetStream central is edgecentral's alone.
func TestGatewayLinksNoNATS(t *testing.T) {
	for _, p := range listPackages(t, "linux") {
		if rel(p.ImportPath) != "cmd/edgegw" {
			continue
		}
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, "github.com/nats-io/") {
				t.Errorf("cmd/edgegw links %s: the gateway must not depend on NATS", dep)
			}
		}
		return
	}
	t.Fatal("cmd/edgegw not found")
}

func TestImportDirection(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range listPackages(t, goos) {
			me := rel(p.ImportPath)
			if p.Name == "sync" {
				t.Errorf("%s: package named sync shadows the standard library", me)
			}
			if under(me, "cmd") && p.Name != "main" {
				t.Errorf("%s: package %s under cmd/: cmd holds commands only; put the logic in a package outside cmd", me, p.Name)
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
				case under(me, "drivers") && under(d, "edge") && d != "edge" && !edgeLeaves[d]:
					t.Errorf("%s (%s) imports %s: drivers depend on edge alone (edge.Options, edge.Duration), not on its subpackages", me, goos, d)
				case me == "edge/config" && under(d, "edge") && d != "edge" && !edgeLeaves[d]:
					t.Errorf("%s (%s) imports %s: edge/config is a leaf: it may import edge and %v only", me, goos, d, leafList())
				}
			}
		}
	}
}
