package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// packagingOnly are modules that only the release tooling needs (nfpm and
// what it pulls in: go-git, chglog, sprig...). They belong in
// packaging/go.mod, never in the gateway's build list.
var packagingOnly = []string{
	"github.com/goreleaser/nfpm",
	"github.com/goreleaser/chglog",
	"github.com/go-git/",
	"github.com/Masterminds/sprig",
	"github.com/ProtonMail/go-crypto",
	"github.com/blakesmith/ar",
}

// goCmd runs go in the gateway's module alone (no go.work), as a release
// build does.
func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestNoReleaseToolingInTheGateway: the gateway's module (its whole build
// list, and the packages its commands link) holds none of the release
// tooling's modules; those live in packaging/go.mod.
func TestNoReleaseToolingInTheGateway(t *testing.T) {
	mods := goCmd(t, "list", "-m", "all")
	deps := goCmd(t, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", module+"/cmd/...")
	for _, m := range strings.Fields(mods) {
		if m == module+"/packaging" {
			t.Errorf("the gateway's build list holds the packaging module")
		}
	}
	for _, p := range packagingOnly {
		for what, list := range map[string]string{"build list (go list -m all)": mods, "commands' dependencies (go list -deps ./cmd/...)": deps} {
			for _, line := range strings.Split(list, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), p) {
					t.Errorf("the gateway's %s holds %s: release tooling goes in packaging/go.mod", what, strings.Fields(line)[0])
					break
				}
			}
		}
	}
}
