package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// wallClock are the functions of package time that read or wait on the
// wall clock. Production code takes time through edge.Clock (Now, After),
// so that tests drive it with internal/fakeclock instead of sleeping.
var wallClock = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true,
}

// clockAllowed are the files and folders (relative to the module root)
// that may use the wall clock, and why.
var clockAllowed = map[string]string{
	"edge/clock.go":               "edge.SystemClock is the real clock",
	"sync/receiver/clock.go":      "the receiver's real clock (it does not import edge)",
	"internal/fakeclock/":         "the manual clock measures nothing but hands out channels",
	"internal/ptytest/":           "test helper: waits on real socat processes",
	"internal/drivertest/":        "test helper",
	"sync/export/exporttest/":     "test helper: bounded waits on real brokers, servers and databases",
	"edge/store/storebench/":      "a benchmark measures wall time",
	"edge/rules/rulebench/":       "a benchmark measures wall time",
	"drivers/modbus/modbusbench/": "a benchmark measures wall time",
	"internal/centralbench/":      "a benchmark harness: bounded waits on real NATS servers (the read-back's stall timer)",
	"third_party/":                "vendored upstream code",
	"packaging/":                  "a separate module (packaging tools)",
}

// TestTimeOnlyThroughClock fails on a call of time.Now, time.Sleep,
// time.After and the like in a non-test file of a library package. Main
// packages (cmd/, the test processes) only wire, and may read the clock
// to hand it on.
func TestTimeOnlyThroughClock(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, ok := clockAllowed[rel+"/"]; ok {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if _, ok := clockAllowed[rel]; ok {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		name := ""
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "time" {
				name = "time"
				if im.Name != nil {
					name = im.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == name && wallClock[sel.Sel.Name] {
				pos := fset.Position(sel.Pos())
				bad = append(bad, rel+":"+strconv.Itoa(pos.Line)+": time."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: take time through edge.Clock (or add the file to clockAllowed with a reason)", b)
	}
}
