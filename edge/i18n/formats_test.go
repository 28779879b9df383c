package i18n

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The source the user reads messages from: the config's validation, the
// drivers' option checks, the rules, and the CLI.
var scanned = []string{"edge", "drivers", "cmd/edgegw", "internal/cli", "internal/update"}

// formatArg is, for each constructor of a translated message, which
// argument is the format. Errorf is any X.Errorf but fmt's: the options'
// and the config's Errorf(field, format, args...).
var formatArg = map[string]int{
	"Errorf":      1, // opts.Errorf(field, format, ...), cfg.Errorf, i18n.Errorf(lang, format, ...)
	"errorf":      1, // the rules' errorf(field, format, ...)
	"plainErrorf": 1,
	"ef":          1, // the drivers' errorf parameter: ef(field, format, ...)
	"addf":        2, // the decoder's addf(node, field, format, ...)
	"problemf":    1,
	"problemAt":   4,
	"FieldErrorf": 1,
	"phrase":      0,
	"Msgf":        0, // edge.Msgf(format, ...)
	"viaf":        0, // edge/gateway's viaf(format, ...): how an output test went
	"add":         1, // in edge/config: add(field, format, ...)
	"check":       2, // in drivers/sim: check(bad, field, format, ...)
	"Sprintf":     1, // i18n.Sprintf(lang, format, ...)
	"Fprintf":     2, // i18n.Fprintf(w, lang, format, ...)
	"Fprintln":    2,
	"Text":        1,
	"Format":      1,
}

// needsNoTranslation is a format with no words: "%v", "%s: %v".
func needsNoTranslation(f string) bool {
	for _, v := range Verbs(f) {
		f = strings.Replace(f, v, "", 1)
	}
	return !strings.ContainsFunc(f, unicode.IsLetter)
}

type use struct {
	format string
	at     string
}

// sourceFormats finds every format passed to the constructors above, and
// the Short lines of the CLI's commands and groups.
func sourceFormats(t *testing.T) []use {
	root := filepath.Join("..", "..")
	var out []use
	fset := token.NewFileSet()
	for _, dir := range scanned {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			i18nPkg := strings.HasSuffix(filepath.ToSlash(filepath.Dir(path)), "edge/i18n")
			slash := filepath.ToSlash(path)
			cliSource := strings.Contains(slash, "cmd/edgegw/") || strings.Contains(slash, "internal/cli/")
			help := func(e ast.Expr) { // a help text: each paragraph
				for _, s := range literalParts(e) {
					for _, p := range Paragraphs(strings.TrimSpace(s)) {
						if p != "" {
							out = append(out, use{p, fset.Position(e.Pos()).String()})
						}
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.ValueSpec:
					// const serviceUsage = `...`: a help text shared by commands.
					for i, id := range x.Names {
						if cliSource && strings.HasSuffix(id.Name, "Usage") && i < len(x.Values) {
							help(x.Values[i])
						}
					}
				case *ast.CallExpr:
					name, pkg := callName(x.Fun)
					if i, ok := flagUsageArg[name]; ok && cliSource && (pkg == "fs" || pkg == "flag") && i < len(x.Args) {
						// A flag's description: a literal the App translates,
						// or built by i18n.Sprintf (found as a format).
						if s, ok := stringLit(x.Args[i]); ok {
							out = append(out, use{s, fset.Position(x.Pos()).String()})
						} else if c, ok := x.Args[i].(*ast.CallExpr); !ok || !isI18n(c) {
							t.Errorf("%s: the usage of flag is neither a literal nor an i18n call: it cannot be translated", fset.Position(x.Pos()))
						}
						return true
					}
					i, ok := formatArg[name]
					if !ok || pkg == "fmt" || pkg == "t" || pkg == "b" || pkg == "errors" {
						return true
					}
					switch name {
					case "Sprintf", "Fprintf", "Fprintln", "Text", "Format":
						if pkg != "i18n" && !i18nPkg {
							return true
						}
					case "Errorf":
						if pkg == "" {
							return true
						}
					case "add":
						if !strings.Contains(filepath.ToSlash(path), "edge/config/") {
							return true
						}
					case "check":
						if !strings.Contains(filepath.ToSlash(path), "drivers/sim/") {
							return true
						}
					}
					if i >= len(x.Args) {
						return true
					}
					if s, ok := stringLit(x.Args[i]); ok {
						out = append(out, use{s, fset.Position(x.Pos()).String()})
					}
				case *ast.KeyValueExpr:
					// Short: "..." of a cli.Command; Groups: {"probe": "..."}.
					k, ok := x.Key.(*ast.Ident)
					if !ok {
						return true
					}
					switch k.Name {
					case "Usage", "Long":
						if cliSource {
							help(x.Value)
						}
					case "Short", "Summary":
						if s, ok := stringLit(x.Value); ok {
							out = append(out, use{s, fset.Position(x.Pos()).String()})
						}
					case "Groups":
						if cl, ok := x.Value.(*ast.CompositeLit); ok {
							for _, e := range cl.Elts {
								if kv, ok := e.(*ast.KeyValueExpr); ok {
									if s, ok := stringLit(kv.Value); ok {
										out = append(out, use{s, fset.Position(kv.Pos()).String()})
									}
								}
							}
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// flagUsageArg is, for each flag.FlagSet method, which argument is the
// flag's description.
var flagUsageArg = map[string]int{
	"StringVar": 3, "BoolVar": 3, "IntVar": 3, "Int64Var": 3, "UintVar": 3, "Uint64Var": 3,
	"Float64Var": 3, "DurationVar": 3, "TextVar": 3,
	"String": 2, "Bool": 2, "Int": 2, "Int64": 2, "Uint": 2, "Uint64": 2, "Float64": 2, "Duration": 2,
	"Var": 2, "Func": 1, "BoolFunc": 1,
}

func isI18n(c *ast.CallExpr) bool {
	_, pkg := callName(c.Fun)
	return pkg == "i18n"
}

// literalParts is the literal paragraphs of a + chain (serviceUsage +
// "\n\nExit status: ..."): a literal next to a name counts when a blank
// line separates them (the constant's own paragraphs are found at its
// declaration); one glued to a name is built at run time and not
// translatable by its paragraphs (the hidden gen-man's text).
func literalParts(e ast.Expr) []string {
	var items []ast.Expr
	var flatten func(e ast.Expr)
	flatten = func(e ast.Expr) {
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
			if _, ok := stringLit(b); !ok {
				flatten(b.X)
				flatten(b.Y)
				return
			}
		}
		items = append(items, e)
	}
	flatten(e)
	var out []string
	for i, it := range items {
		s, ok := stringLit(it)
		if !ok {
			continue
		}
		if i > 0 {
			if !strings.HasPrefix(s, "\n\n") {
				continue
			}
		}
		if i < len(items)-1 {
			if !strings.HasSuffix(s, "\n\n") {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func callName(fun ast.Expr) (name, pkg string) {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name, ""
	case *ast.SelectorExpr:
		if id, ok := f.X.(*ast.Ident); ok {
			return f.Sel.Name, id.Name
		}
		return f.Sel.Name, "?"
	}
	return "", ""
}

// stringLit is the value of a string literal, or of literals joined by +.
func stringLit(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := stringLit(x.X)
		b, ok2 := stringLit(x.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return stringLit(x.X)
	}
	return "", false
}

// Every validation message and CLI line has a zh-CN format with the same
// verbs in the same order: a message with no translation fails here.
func TestEveryFormatTranslated(t *testing.T) {
	cat, err := Formats()
	if err != nil {
		t.Fatal(err)
	}
	uses := sourceFormats(t)
	if len(uses) < 200 {
		t.Fatalf("found only %d formats: the scan is broken", len(uses))
	}
	used := map[string]bool{}
	var missing []string
	for _, u := range uses {
		if needsNoTranslation(u.format) {
			continue
		}
		used[u.format] = true
		zh, ok := cat[u.format]
		switch {
		case !ok:
			missing = append(missing, strconv.Quote(u.format))
			t.Errorf("%s: no zh-CN translation of %q", u.at, u.format)
		case !slices.Equal(textVerbs(zh), textVerbs(u.format)):
			t.Errorf("%s: %q has verbs %v, its zh-CN %q has %v", u.at, u.format, textVerbs(u.format), zh, textVerbs(zh))
		case !slices.Equal(placeholders(zh), placeholders(u.format)):
			t.Errorf("%s: %q has the placeholders %q, its zh-CN %q has %q (a flag's `name` is kept)", u.at, u.format, placeholders(u.format), zh, placeholders(zh))
		}
	}
	if len(missing) > 0 && os.Getenv("I18N_MISSING") != "" {
		sort.Strings(missing)
		os.WriteFile(os.Getenv("I18N_MISSING"), []byte(strings.Join(slices.Compact(missing), "\n")+"\n"), 0o644)
	}
	var stale []string
	for en := range cat {
		if !used[en] {
			stale = append(stale, en)
		}
	}
	sort.Strings(stale)
	for _, en := range stale {
		t.Errorf("formats.zh-CN.json: %q is used nowhere (remove it, or the scan misses a constructor)", en)
	}
}

// Every entry of the catalog has the verbs of its English format, and
// is Chinese (not a copy of the English).
func TestFormatCatalog(t *testing.T) {
	cat, err := Formats()
	if err != nil {
		t.Fatal(err)
	}
	for en, zh := range cat {
		if !slices.Equal(textVerbs(zh), textVerbs(en)) {
			t.Errorf("%q: verbs %v, zh-CN %q: %v", en, textVerbs(en), zh, textVerbs(zh))
		}
		if !strings.ContainsFunc(zh, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			t.Errorf("%q: zh-CN %q has no Chinese", en, zh)
		}
	}
}

// windowsVar is a Windows environment variable in a help text
// (%ProgramData%): not a verb (help texts are not passed through fmt).
var windowsVar = regexp.MustCompile(`%[A-Z][a-z][A-Za-z]*%`)

// textVerbs is Verbs with the Windows variables left out.
func textVerbs(s string) []string { return Verbs(windowsVar.ReplaceAllString(s, "")) }

// placeholders lists the backquoted names of a flag's usage (`file`),
// which the help prints as the flag's argument: a translation keeps them.
func placeholders(s string) []string {
	return regexp.MustCompile("`[^`]*`").FindAllString(s, -1)
}

func TestVerbs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"100%% sure", nil},
		{"%s at %d", []string{"%s", "%d"}},
		{"%-20s %5.2f%%", []string{"%-20s", "%5.2f"}},
		{"%[2]q %v", []string{"%[2]q", "%v"}},
		{"byte 0x%02x", []string{"%02x"}},
	} {
		if got := Verbs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Verbs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSprintf(t *testing.T) {
	if got := Sprintf(EN, "%d inputs", 3); got != "3 inputs" {
		t.Errorf("got %q, want %q", got, "3 inputs")
	}
	if got := Sprintf(ZH, "no such format %d", 3); got != "no such format 3" {
		t.Errorf("got %q, want the English", got)
	}
}

func TestErrorText(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	for _, c := range []struct {
		err  error
		want string
	}{
		{errors.Join(a, b), "a\nb"},
		{fmt.Errorf("%w: %w", a, b), "a: b"}, // two %w: not a join
		{fmt.Errorf("x: %w", a), "x: a"},
	} {
		if got := ErrorText(ZH, c.err); got != c.want {
			t.Errorf("ErrorText(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}

type msg struct {
	format string
	args   []any
}

func (m msg) Error() string                  { return fmt.Sprintf(m.format, m.args...) }
func (m msg) MessageFormat() (string, []any) { return m.format, m.args }

// An error that wraps a translatable one keeps its own words and has the
// wrapped part in the reader's language, in ErrorText and as an argument.
func TestWrappedErrorText(t *testing.T) {
	inUse := msg{"port %s is in use by another program", []any{"/dev/ttyS0"}}
	err := fmt.Errorf("open %s: %w", "/dev/ttyS0", inUse)
	if got, want := ErrorText(ZH, err), "open /dev/ttyS0: 端口 /dev/ttyS0 正被另一个程序占用"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := ErrorText(EN, err), err.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e := Errorf(ZH, "through %s: %w", "x", err)
	if got, want := e.Error(), "经由 x：open /dev/ttyS0: 端口 /dev/ttyS0 正被另一个程序占用"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var m msg
	if !errors.As(e, &m) {
		t.Errorf("%v does not wrap the original", e)
	}
}

// Help texts are translated paragraph by paragraph; English is left as it is.
func TestLong(t *testing.T) {
	text := "Runs the gateway with the given config until SIGINT or SIGTERM.\n\nno such paragraph"
	if got := Long(EN, text); got != text {
		t.Errorf("got %q, want the text as it is", got)
	}
	if got, want := Long(ZH, text), "按给定的配置运行网关，直到收到 SIGINT 或 SIGTERM。\n\nno such paragraph"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
