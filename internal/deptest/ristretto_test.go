package deptest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const ristretto = "github.com/dgraph-io/ristretto/v2"

// TestRistrettoForkBase: the gateway builds with the patched copy of
// ristretto in third_party/ristretto, at the version that copy was taken
// from (the base: line of its PATCHED.md). go.mod's replace names that
// version: if a dependency (Badger) came to require a newer ristretto, the
// build would take the newer, unpatched one without a word.
func TestRistrettoForkBase(t *testing.T) {
	dir := filepath.Join("..", "..", "third_party", "ristretto")
	patched, err := os.ReadFile(filepath.Join(dir, "PATCHED.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^base: (\S+) (v\S+) \(commit ([0-9a-f]{40})\)$`).FindSubmatch(patched)
	if m == nil || string(m[1]) != ristretto {
		t.Fatalf("third_party/ristretto/PATCHED.md has no line \"base: %s vX.Y.Z (commit <40 hex>)\"", ristretto)
	}
	base := string(m[2])

	var mod struct {
		Version string
		Replace *struct{ Path, Version string }
	}
	if err := json.Unmarshal([]byte(goCmd(t, "list", "-m", "-json", ristretto)), &mod); err != nil {
		t.Fatal(err)
	}
	if mod.Version != base {
		t.Errorf("the gateway builds with ristretto %s, the fork is based on %s: update the fork (re-apply the patch to the new version) before the version", mod.Version, base)
	}
	if mod.Replace == nil || filepath.Clean(mod.Replace.Path) != filepath.Join("third_party", "ristretto") {
		t.Errorf("ristretto %s is not replaced by ./third_party/ristretto (replace: %+v): the 32-bit allocator fix is not in the build", mod.Version, mod.Replace)
	}

	alloc, err := os.ReadFile(filepath.Join(dir, "z", "allocator.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(alloc), "atomic.StoreUint64(&a.compIdx, uint64(bufIdx+1)<<32)") {
		t.Error("third_party/ristretto/z/allocator.go lacks the 32-bit fix (see PATCHED.md)")
	}
}
