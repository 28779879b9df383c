package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones on Windows and on boxes without /usr/share/zoneinfo

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

// Loading a config goes: parse the YAML (syntax errors), strict-decode it
// into Config walking the AST (every unknown key, wrong type, bad duration
// or size is a Problem with file:line:col), fill defaults, validate. Every
// step collects all its problems; Parse returns them together as *Error.
//
// The section convention: a section type (a field of Config, or an element
// of one of its lists) may implement
//
//	interface{ SetDefaults() }            // fill defaults after decoding
//	interface{ Validate() []*FieldError } // after SetDefaults; FieldError.Field
//	                                      // is named from the file's root:
//	                                      // "status.listen", "uplink.url"
//	interface{ Validate() error }         // or this: *FieldError values, alone
//	                                      // or joined with errors.Join
//
// and the loader calls them (Status and Uplink do this; rules use
// Rule.SetDefaults and ValidateRules). The loader turns each FieldError
// into a Problem with the file:line of its field. Driver and output options
// are decoded and validated by their factories (CheckDrivers) through
// edge.Options, whose Decode and Errorf give the same file:line errors.

// Problem is one thing wrong with a config file.
type Problem struct {
	File      string
	Line, Col int    // 1-based; 0 when unknown
	Field     string // YAML path: "inputs[2].driver"
	Msg       string // in English
	// Format and Args are what Msg was printed from: Localize prints
	// them in another language (edge/i18n translates the format).
	Format string
	Args   []any
}

// problemAt makes a Problem whose message is format with args.
func problemAt(file string, line, col int, field, format string, args ...any) Problem {
	return Problem{File: file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// same is == on the problem's position and English text.
func (p Problem) same(q Problem) bool {
	return p.File == q.File && p.Line == q.Line && p.Col == q.Col && p.Field == q.Field && p.Msg == q.Msg
}

// String prints the problem on one short line, "file:line:col: field:
// message", with any control or non-UTF-8 byte escaped.
func (p Problem) String() string { return p.render(p.Msg) }

// Localize is String in lang: the message's format translated, its
// arguments as they are.
func (p Problem) Localize(lang i18n.Lang) string {
	if p.Format == "" || lang == i18n.EN {
		return p.String()
	}
	return p.render(i18n.Sprintf(lang, p.Format, p.Args...))
}

func (p Problem) render(msg string) string {
	var b strings.Builder
	if p.File != "" || p.Line > 0 {
		b.WriteString(clip(p.File, 200))
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, max(p.Col, 1))
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(clip(p.Field, 120))
		b.WriteString(": ")
	}
	b.WriteString(clip(msg, 300))
	return b.String()
}

// Error lists the problems found in a config, sorted by file:line:col. It
// matches edge.ErrInvalidConfig with errors.Is; get it with errors.As.
type Error struct {
	Problems []Problem
	// Omitted counts the problems found past the ones kept (a file with
	// a hundred thousand of them keeps the first few thousand).
	Omitted int
}

// Error prints one line per problem, "file:line:col: field: message", at
// most MaxListed of them and then "... and 4,812 more problems".
func (e *Error) Error() string { return e.Localize(i18n.EN) }

// Localize is Error in lang (edgegw validate follows LANG).
func (e *Error) Localize(lang i18n.Lang) string {
	n := min(len(e.Problems), MaxListed)
	var b strings.Builder
	for i, p := range e.Problems[:n] {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Localize(lang))
	}
	if more := len(e.Problems) - n + e.Omitted; more > 0 {
		if n > 0 {
			b.WriteByte('\n')
		}
		if more == 1 {
			i18n.Fprintf(&b, lang, "... and %s more problem", commas(int64(more)))
		} else {
			i18n.Fprintf(&b, lang, "... and %s more problems", commas(int64(more)))
		}
	}
	return b.String()
}

// Is makes every config error an edge.ErrInvalidConfig (exit code 78).
func (e *Error) Is(target error) bool { return target == edge.ErrInvalidConfig }

// Len is the number of problems found, kept or not.
func (e *Error) Len() int { return len(e.Problems) + e.Omitted }

// newError sorts ps and keeps at most maxKept of them.
func newError(ps ...Problem) *Error {
	e := &Error{Problems: ps}
	e.sort()
	if len(e.Problems) > maxKept {
		e.Omitted += len(e.Problems) - maxKept
		e.Problems = e.Problems[:maxKept:maxKept]
	}
	return e
}

func (e *Error) sort() {
	sort.SliceStable(e.Problems, func(i, j int) bool {
		a, b := e.Problems[i], e.Problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Problems returns every Problem in err: a *Error, errors joined with
// errors.Join, or wrapped errors. A plain error becomes a Problem with only
// its message.
func Problems(err error) []Problem {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		if e == nil {
			return nil
		}
		return e.Problems
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var ps []Problem
		for _, x := range j.Unwrap() {
			ps = append(ps, Problems(x)...)
		}
		return ps
	}
	var e *Error
	if u := errors.Unwrap(err); u != nil && errors.As(u, &e) {
		return Problems(u) // the problems carry their own context
	}
	return []Problem{{Msg: err.Error()}}
}

// Load reads and parses a config file of at most MaxFileSize bytes. See
// Parse. Every error it returns, a file that cannot be read included, is a
// *Error and matches edge.ErrInvalidConfig.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// LoadChecked is Load for `edgegw validate`: when the file decodes, check
// (gateway.Check: drivers, outputs, rules) runs on it even if the file has
// problems of its own, so that one run shows every problem of the file,
// sorted by line. A problem check finds on a field that already has one is
// dropped. The error is a *Error; the config is nil when it is not valid.
func LoadChecked(path string, check func(*Config) error) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, e := parseLoose(path, data)
	if cfg == nil {
		return nil, e
	}
	if e != nil {
		cfg.clampForCheck()
	}
	var deep error
	func() {
		defer func() {
			if r := recover(); r != nil {
				deep = cfg.Errorf("", "checking the config panicked: %v", r)
			}
		}()
		deep = check(cfg)
	}()
	if e == nil && deep == nil {
		return cfg, nil
	}
	var own []Problem
	var first error
	if e != nil {
		own, first = e.Problems, e
	}
	all := Join(first, deep).(*Error)
	if len(own) > 0 {
		seen := newFieldSet(own)
		kept := all.Problems[:0]
		for _, p := range all.Problems {
			if p.Field == "" || !seen.covers(p.Field) || containsProblem(own, p) {
				kept = append(kept, p)
			}
		}
		all.Problems = kept
	}
	return nil, all
}

func containsProblem(ps []Problem, p Problem) bool {
	i := sort.Search(len(ps), func(i int) bool {
		a := ps[i]
		return a.File > p.File || (a.File == p.File && (a.Line > p.Line || (a.Line == p.Line && a.Col >= p.Col)))
	})
	for ; i < len(ps) && ps[i].File == p.File && ps[i].Line == p.Line && ps[i].Col == p.Col; i++ {
		if ps[i].same(p) {
			return true
		}
	}
	return false
}

// Join gathers the problems of several errors (a *Error, errors.Join of
// them, any error) into one *Error, sorted by line, without duplicates; nil
// when every err is nil.
func Join(errs ...error) error {
	var ps []Problem
	omitted := 0
	for _, err := range errs {
		ps = append(ps, Problems(err)...)
		omitted += omittedOf(err)
	}
	if len(ps) == 0 && omitted == 0 {
		return nil
	}
	e := newError(ps...)
	e.Omitted += omitted
	// Drop exact duplicates (a rule problem found by both the loader and
	// the rule compiler). Equal problems are neighbours once sorted by
	// position, up to a run of one position.
	out := e.Problems[:0]
	start := 0
	for _, p := range e.Problems {
		for start < len(out) && (out[start].File != p.File || out[start].Line != p.Line || out[start].Col != p.Col) {
			start++
		}
		dup := false
		for _, q := range out[start:] {
			if q.same(p) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	e.Problems = out
	return e
}

func omittedOf(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*Error); ok {
		if e == nil {
			return 0
		}
		return e.Omitted
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		n := 0
		for _, x := range j.Unwrap() {
			n += omittedOf(x)
		}
		return n
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Omitted
	}
	return 0
}

// Parse decodes a config strictly, fills defaults and validates it. It
// returns a *Error listing every problem found, each with filename:line:col
// and the field. It does not build drivers: CheckDrivers does that. data
// larger than MaxFileSize, not UTF-8 text, or past the limits on tokens,
// nesting and alias expansion is refused before it is decoded.
func Parse(filename string, data []byte) (*Config, error) {
	cfg, e := parseLoose(filename, data)
	if e != nil {
		return nil, e
	}
	return cfg, nil
}

// parseLoose is Parse that also returns the config when it decoded but did
// not validate (nil when it did not decode at all).
func parseLoose(filename string, data []byte) (cfg *Config, e *Error) {
	defer func() {
		// The YAML library is third-party code fed outside bytes: a panic in
		// it is a bad config, never a crash. (The fuzz test turns this off
		// to see the panics.)
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			cfg, e = nil, newError(problemAt(filename, 1, 1, "", "cannot parse: %v", r))
		}
	}()
	if p := checkText(filename, data); p != nil {
		return nil, newError(*p)
	}
	toks, p := tokenize(filename, string(stripBOM(data)))
	if p != nil {
		return nil, newError(*p)
	}
	f, perr := parser.Parse(toks, 0)
	if perr != nil {
		return nil, newError(syntaxProblem(filename, perr))
	}
	var root ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, ok := doc.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		if root != nil {
			l, c := nodePos(doc.Body)
			return nil, newError(problemAt(filename, l, c, "", "only one YAML document is allowed (document %d starts here)", i+1))
		}
		root = doc.Body
	}
	if root == nil {
		return nil, newError(problemAt(filename, 1, 1, "", "the config is empty: it needs at least gateway.id (edgegw init writes an example)"))
	}
	if _, at := expandedSize(root); at != nil {
		l, c := nodePos(at)
		return nil, newError(problemAt(filename, l, c, "", "aliases expand the document past %s nodes or %s bytes here: a config needs no such repetition", commas(MaxNodes), commas(MaxExpandedBytes)))
	}
	cfg = &Config{file: filename, root: root}
	d := &decoder{file: filename}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.anchors = d.anchors
	probs := d.probs
	cfg.SetDefaults()
	probs = append(probs, skipDecoded(cfg.validate(), d.probs)...)
	if len(probs) > 0 || d.omitted > 0 {
		e = newError(probs...)
		e.Omitted += d.omitted
		return cfg, e
	}
	return cfg, nil
}

var recoverPanics = true

// Precheck applies Parse's guards (size, UTF-8 text, tokens, nesting,
// alias expansion) to data without decoding it into a Config: code that
// reads a config file with the plain YAML library (status's locate, the
// diagnostics' redaction) calls it first, so that a hostile file is
// refused in bounded time there too.
func Precheck(filename string, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil && recoverPanics {
			err = newError(problemAt(filename, 1, 1, "", "cannot parse: %v", r))
		}
	}()
	if p := checkText(filename, data); p != nil {
		return newError(*p)
	}
	toks, p := tokenize(filename, string(stripBOM(data)))
	if p != nil {
		return newError(*p)
	}
	f, perr := parser.Parse(toks, 0)
	if perr != nil {
		return newError(syntaxProblem(filename, perr))
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, at := expandedSize(doc.Body); at != nil {
			l, c := nodePos(at)
			return newError(problemAt(filename, l, c, "", "aliases expand the document past %s nodes or %s bytes here: a config needs no such repetition", commas(MaxNodes), commas(MaxExpandedBytes)))
		}
	}
	return nil
}

// goccyPos is how goccy names a position inside a message: "at [3:5]".
var goccyPos = regexp.MustCompile(`at \[(\d+):\d+\]`)

// skipDecoded drops validation problems about fields that already failed to
// decode (a wrong-typed gateway.id is not also "required").
func skipDecoded(vs, ds []Problem) []Problem {
	if len(ds) == 0 {
		return vs
	}
	for _, d := range ds {
		if d.Field == "" {
			return nil
		}
	}
	seen := newFieldSet(ds)
	var out []Problem
	for _, v := range vs {
		if !seen.covers(v.Field) {
			out = append(out, v)
		}
	}
	return out
}

// fieldSet answers "does a problem already name this field, one inside it
// or one around it" in time linear in the length of the field's path.
type fieldSet struct {
	exact, around map[string]bool
}

func newFieldSet(ps []Problem) fieldSet {
	s := fieldSet{exact: map[string]bool{}, around: map[string]bool{}}
	for _, p := range ps {
		if p.Field == "" {
			continue
		}
		s.exact[p.Field] = true
		for _, a := range ancestors(p.Field) {
			s.around[a] = true
		}
	}
	return s
}

func (s fieldSet) covers(f string) bool {
	if s.exact[f] || s.around[f] {
		return true
	}
	for _, a := range ancestors(f) {
		if s.exact[a] {
			return true
		}
	}
	return false
}

// ancestors of "a.b[2].c" are "a", "a.b", "a.b[2]".
func ancestors(f string) []string {
	var out []string
	for i := 1; i < len(f); i++ {
		if f[i] == '.' || f[i] == '[' {
			out = append(out, f[:i])
		}
	}
	return out
}

func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Line: 1, Col: 1}
	var ye yaml.Error
	if errors.As(err, &ye) {
		// Not err.Error(): it prints an excerpt of the source, which costs
		// time on long lines and would echo whatever bytes are there.
		p.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Col = max(tk.Position.Line, 1), max(tk.Position.Column, 1)
		}
	} else {
		p.Msg, _, _ = strings.Cut(err.Error(), "\n")
	}
	if strings.Contains(p.Msg, "'\t'") {
		p.Msg = "a tab character: YAML indentation must use spaces"
	}
	if p.Msg == "a tab character: YAML indentation must use spaces" {
		p.Format = "syntax error: a tab character: YAML indentation must use spaces"
	} else {
		p.Format, p.Args = "syntax error: %s", []any{goccyPos.ReplaceAllString(clip(p.Msg, 300), "at line $1")}
	}
	p.Msg = fmt.Sprintf(p.Format, p.Args...)
	return p
}

// File is the name the config was parsed from ("" when built in code).
func (c *Config) File() string { return c.file }

// SetDefaults fills every default named in the field comments. Parse calls
// it; code that builds a Config by hand may call it too.
func (c *Config) SetDefaults() {
	if c.Gateway.Site == "" {
		c.Gateway.Site = c.Gateway.ID
	}
	if c.Gateway.Timezone == "" {
		c.Gateway.Timezone = "Local"
	}
	s := &c.Store
	if s.Dir == "" {
		s.Dir = DefaultDataDir()
	}
	if s.Cap == 0 {
		s.Cap = DefaultCap
	}
	if s.CommitWait == 0 && !c.has("store.commit_wait") {
		s.CommitWait = Duration(DefaultCommitWait)
	}
	if s.History == 0 && !c.has("store.history") {
		s.History = Duration(168 * time.Hour)
	}
	if s.GCInterval == 0 {
		s.GCInterval = Duration(5 * time.Minute)
	}
	if s.MemoryBudget == 0 {
		s.MemoryBudget = DefaultMemoryBudget
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	for i := range c.Rules {
		c.Rules[i].SetDefaults()
	}
	c.Update.storeDir = s.Dir
	for _, sec := range c.sections() {
		if d, ok := sec.(interface{ SetDefaults() }); ok {
			d.SetDefaults()
		}
	}
}

// Defaults that other packages show or compare against.
const (
	DefaultCap        = ByteSize(1 << 30)
	MinCap            = ByteSize(16 << 20)
	DefaultCommitWait = 5 * time.Millisecond
	MaxCommitWait     = 100 * time.Millisecond
	// The store's disk reserve and memory budget (edge/store's
	// MinDiskReserve, DefaultMemoryBudget, MinMemoryBudget).
	MinDiskReserve      = ByteSize(24 << 20)
	DefaultMemoryBudget = ByteSize(64 << 20)
	MinMemoryBudget     = ByteSize(32 << 20)
)

// DefaultDataDir is store.dir's default: /var/lib/edgegw, or
// %ProgramData%\edgegw on Windows.
func DefaultDataDir() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "edgegw")
	}
	return "/var/lib/edgegw"
}

// sections are the parts that follow the SetDefaults/Validate convention.
func (c *Config) sections() []any {
	return []any{&c.Gateway, &c.Store, &c.Log, &c.Uplink, &c.Status, &c.Update}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID reports whether s may be a gateway id or an input/output name:
// 1-64 letters, digits, '.', '_', '-', starting with a letter or digit.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// validate checks everything that needs no driver. Defaults are applied.
func (c *Config) validate() []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, c.problemf(field, format, args...))
	}
	switch {
	case c.Gateway.ID == "":
		add("gateway.id", "gateway.id is required: the id of this box at the central platform, e.g. sunrise-gw1")
	case !ValidID(c.Gateway.ID):
		add("gateway.id", "gateway id %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Gateway.ID)
	}
	if c.Gateway.Timezone != "Local" {
		if _, err := time.LoadLocation(c.Gateway.Timezone); err != nil || c.Gateway.Timezone == "" {
			add("gateway.timezone", "unknown time zone %q: use an IANA name such as Asia/Shanghai or Europe/Berlin, or Local", c.Gateway.Timezone)
		}
	}
	switch c.Gateway.Language {
	case "", "en", "zh-CN":
	default:
		add("gateway.language", "unknown language %q: use en or zh-CN", c.Gateway.Language)
	}
	if c.Store.Cap < MinCap {
		add("store.cap", "store cap %v is too small: at least %v", c.Store.Cap, MinCap)
	}
	if w := c.Store.CommitWait; w < 0 || w.D() > MaxCommitWait {
		add("store.commit_wait", "commit_wait %v out of range 0..%v", w, MaxCommitWait)
	}
	if c.Store.History < 0 {
		add("store.history", "history may not be negative")
	}
	if c.Store.GCInterval.D() < time.Second {
		add("store.gc_interval", "gc_interval %v is too short: at least 1s", c.Store.GCInterval)
	}
	if r := c.Store.DiskReserve; r != 0 && r < MinDiskReserve {
		add("store.disk_reserve", "disk_reserve %v is too small: at least %v, or 0 for the default (the larger of 64MiB and 5%% of the filesystem)", r, MinDiskReserve)
	}
	if m := c.Store.MemoryBudget; m < MinMemoryBudget {
		add("store.memory_budget", "memory_budget %v is too small: at least %v", m, MinMemoryBudget)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "unknown log level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "unknown log format %q (want text or json)", c.Log.Format)
	}
	names := map[string]int{}
	for i, in := range c.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		c.checkName(f, "input", in.Name, names, i, add)
		switch {
		case in.Driver == "":
			add(f+".driver", "driver is required (known: %s)", strings.Join(edge.Drivers(), ", "))
		default:
			if _, err := edge.LookupDriver(in.Driver); err != nil {
				add(f+".driver", "unknown driver %q (known: %s)", in.Driver, strings.Join(edge.Drivers(), ", "))
			}
		}
	}
	outs := map[string]int{}
	outNames := map[string]bool{}
	for i, o := range c.Outputs {
		f := fmt.Sprintf("outputs[%d]", i)
		c.checkName(f, "output", o.Name, outs, i, add)
		outNames[o.Name] = true
		switch {
		case o.Driver == "":
			add(f+".driver", "driver is required (known: %s)", strings.Join(edge.Outputs(), ", "))
		default:
			if _, err := edge.LookupOutput(o.Driver); err != nil {
				add(f+".driver", "unknown output driver %q (known: %s)", o.Driver, strings.Join(edge.Outputs(), ", "))
			}
		}
	}
	for _, fe := range ValidateRules(c.Rules, outNames) {
		ps = append(ps, c.fieldProblem(fe))
	}
	for _, sec := range c.sections() {
		switch v := sec.(type) {
		case interface{ Validate() []*FieldError }:
			for _, fe := range v.Validate() {
				ps = append(ps, c.fieldProblem(fe))
			}
		case interface{ Validate() error }:
			ps = append(ps, c.fieldProblems(v.Validate())...)
		}
	}
	return ps
}

// fieldProblems turns a section's Validate() error into Problems: each
// *FieldError (alone, wrapped or joined) gets its field's file:line; a
// *Error keeps its problems; other errors get the file's first line.
func (c *Config) fieldProblems(err error) []Problem {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var ps []Problem
		for _, e := range j.Unwrap() {
			ps = append(ps, c.fieldProblems(e)...)
		}
		return ps
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []Problem{c.fieldProblem(fe)}
	}
	return c.problemsOf(err, "")
}

func (c *Config) checkName(f, what, name string, seen map[string]int, i int, add func(string, string, ...any)) {
	input := what == "input"
	switch {
	case name == "" && input:
		add(f+".name", "an input needs a name")
	case name == "":
		add(f+".name", "an output needs a name")
	case !ValidID(name) && input:
		add(f+".name", "input name %q: use 1-64 letters, digits, '.', '_' or '-'", name)
	case !ValidID(name):
		add(f+".name", "output name %q: use 1-64 letters, digits, '.', '_' or '-'", name)
	default:
		if j, dup := seen[name]; dup {
			if input {
				add(f+".name", "duplicate input name %q (also inputs[%d])", name, j)
			} else {
				add(f+".name", "duplicate output name %q (also outputs[%d])", name, j)
			}
			return
		}
		seen[name] = i
	}
}

// Errorf returns a *Error naming the file:line:col of field, a YAML path
// from the file's root such as "rules[3].when" or
// "inputs[2].options.devices[1].slave". When field is not in the file (a
// default, a missing key) the nearest enclosing part that is gives the line.
func (c *Config) Errorf(field, format string, args ...any) error {
	return &Error{Problems: []Problem{c.problemf(field, format, args...)}}
}

// problemf is a Problem at field's file:line with format and args.
func (c *Config) problemf(field, format string, args ...any) Problem {
	return c.place(Problem{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args})
}

// fieldProblem is fe at its field's file:line.
func (c *Config) fieldProblem(fe *FieldError) Problem {
	format, args := fe.FormatArgs()
	return c.place(Problem{Field: fe.Field, Msg: fe.Msg, Format: format, Args: args})
}

// place puts p at the file:line:col of its field.
func (c *Config) place(p Problem) Problem {
	p.File = c.file
	p.Line, p.Col = 0, 0
	if c.root != nil {
		p.Line, p.Col = nodePos(lookup(c.root, p.Field))
	}
	if p.Line == 0 && c.file != "" {
		p.Line, p.Col = 1, 1
	}
	return p
}

// has reports whether the file sets field (so that an explicit 0 is kept).
func (c *Config) has(field string) bool {
	if c.root == nil {
		return false
	}
	_, ok := lookupExact(c.root, field)
	return ok
}

// lookup finds the node of a YAML path, or the nearest enclosing one. For a
// key it returns the key-value node, so that the line is the key's.
func lookup(root ast.Node, path string) ast.Node {
	n, _ := lookupExact(root, path)
	return n
}

// lookupExact is lookup that also says whether the whole path was found.
func lookupExact(root ast.Node, path string) (ast.Node, bool) {
	cur, at := root, root
	for _, seg := range splitPath(path) {
		cur = unwrapAlias(cur)
		if seg.index {
			seq, ok := cur.(*ast.SequenceNode)
			if !ok || seg.i < 0 || seg.i >= len(seq.Values) {
				return at, false
			}
			cur = seq.Values[seg.i]
			at = cur
			continue
		}
		mvs, ok := mappingValues(cur)
		if !ok {
			return at, false
		}
		var found *ast.MappingValueNode
		for _, mv := range mvs {
			if keyText(mv.Key) == seg.key {
				found = mv
			}
		}
		if found == nil {
			return at, false
		}
		at, cur = found, found.Value
	}
	return at, true
}

type pathSeg struct {
	key   string
	i     int
	index bool
}

// splitPath turns "a.b[2].c" into a, b, [2], c.
func splitPath(p string) []pathSeg {
	var segs []pathSeg
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return segs
			}
			i, err := strconv.Atoi(p[1:end])
			if err != nil {
				return segs
			}
			segs = append(segs, pathSeg{i: i, index: true})
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			segs = append(segs, pathSeg{key: p[:end]})
			p = p[end:]
		}
	}
	return segs
}

func unwrapAlias(n ast.Node) ast.Node {
	for i := 0; i < 8; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
	return n
}
