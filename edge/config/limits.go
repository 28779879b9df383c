package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// A config file comes from an installer's editor, a broken tool or the
// central platform: whatever it holds, loading it must end in a few seconds
// and a bounded amount of memory, with a short answer. The YAML library
// costs about 300-500 bytes of memory per token and is quadratic in the
// number of keys of one block mapping and in nesting depth, so the bytes
// are checked and tokenized here, with limits, before it parses them; alias
// expansion is counted before anything is decoded.
const (
	// MaxFileSize is the largest config file accepted (the example config
	// is 10 KiB; a compound with a thousand devices about 200 KiB).
	MaxFileSize = 4 << 20
	// MaxTokens bounds the YAML tokens (keys, values, punctuation) of a
	// file, which bounds the memory of parsing it to about 120 MiB. It is
	// about 12,000 devices written one per line.
	MaxTokens = 250_000
	// MaxDepth is how deeply collections may nest (a config needs about 8).
	MaxDepth = 64
	// MaxKeys is the most keys one block mapping may hold.
	MaxKeys = 10_000
	// MaxNodes bounds the nodes of the document with every alias expanded
	// (a "billion laughs" file is refused before anything is decoded).
	MaxNodes = 1 << 20
	// MaxListed is how many problems an error prints; the rest are counted
	// ("... and 4,812 more problems").
	MaxListed = 49
	// maxKept bounds the problems kept in memory.
	maxKept = 10_000
	// maxDepth bounds every recursive walk over a parsed tree.
	maxDepth = MaxDepth + 8
)

// Limits on the lists of a config and on the text of its rules: each input
// builds a driver and each rule compiles expressions and templates, whose
// memory grows with their text (4 MiB of expressions take about 200 MiB
// to compile).
const (
	MaxInputs  = 1000
	MaxOutputs = 1000
	MaxRules   = 5000
	// MaxRuleText bounds one expression or template of a rule (when,
	// resolve, message, an action's text, log and vars).
	MaxRuleText = 4 << 10
	// MaxRulesText bounds the expressions and templates of all rules.
	MaxRulesText = 1 << 20
)

// ReadFile reads a config file of at most MaxFileSize bytes: its size is
// checked before it is read, and the read is limited too (the file may grow,
// or be a device or a pipe).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, newError(problemAt(path, 0, 0, "", "cannot read the config: %s", clip(err.Error(), 200)))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		switch {
		case fi.IsDir():
			return nil, newError(problemAt(path, 0, 0, "", "cannot read the config: it is a directory"))
		case fi.Mode().IsRegular() && fi.Size() > MaxFileSize:
			return nil, tooBig(path, fi.Size())
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, newError(problemAt(path, 0, 0, "", "cannot read the config: %s", clip(err.Error(), 200)))
	}
	if len(data) > MaxFileSize {
		return nil, tooBig(path, -1)
	}
	return data, nil
}

func tooBig(file string, size int64) error {
	if size < 0 {
		return newError(problemAt(file, 0, 0, "", "the config is too big: more than %s bytes (4 MiB); is it the right file?", commas(MaxFileSize)))
	}
	return newError(problemAt(file, 0, 0, "", "the config is too big: %s bytes, the limit is %s bytes (4 MiB); is it the right file?", commas(size), commas(MaxFileSize)))
}

// checkText refuses what is not UTF-8 YAML text: binary files, UTF-16
// files from Windows tools, NUL and other control bytes. The message says
// where, and shows no raw byte.
func checkText(file string, data []byte) *Problem {
	if len(data) > MaxFileSize {
		p := Problems(tooBig(file, int64(len(data))))[0]
		return &p
	}
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		p := problemAt(file, 1, 1, "", "the file is UTF-16 text (it starts with a UTF-16 byte-order mark): save it as UTF-8")
		return &p
	}
	line, col := 1, 1
	var first *Problem
	bad := 0
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		var what *msg
		switch {
		case r == utf8.RuneError && n <= 1:
			what = phrase("byte 0x%02x is not UTF-8 text", data[i]).ptr()
		case r == 0:
			what = phrase("a NUL byte").ptr()
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f, r >= 0x80 && r < 0xa0:
			what = phrase("control character %U", r).ptr()
		case r == 0xfeff && i > 0, r == 0xfffe, r == 0xffff:
			what = phrase("character %U", r).ptr()
		}
		if what != nil {
			bad++
			if first == nil {
				p := problemAt(file, line, col, "", "%s: a config is UTF-8 YAML text; is this a binary file?", *what)
				first = &p
			}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	if first == nil {
		return nil
	}
	if bad > 1 {
		p := problemAt(file, first.Line, first.Col, "", "%s (and %s more bad characters): a config is UTF-8 YAML text; is this a binary file?", first.Args[0], commas(int64(bad-1)))
		first = &p
	}
	return first
}

// listMax are the lists of a config file with a limit: the decoder
// reports the element past it and keeps only the ones before.
var listMax = map[string]int{"inputs": MaxInputs, "outputs": MaxOutputs, "rules": MaxRules}

// ruleTexts calls f with every expression and template of r and its
// field name (relative to the rule).
func ruleTexts(r *Rule, f func(field, text string)) {
	f("when", r.When)
	f("resolve", r.Resolve)
	f("message", r.Message)
	for j := range r.Actions {
		a := &r.Actions[j]
		f(fmt.Sprintf("actions[%d].text", j), a.Text)
		f(fmt.Sprintf("actions[%d].log", j), a.Log)
		for k, v := range a.Vars {
			f(fmt.Sprintf("actions[%d].vars.%s", j, k), v)
		}
	}
}

// ruleTextLimits checks the lengths of the rules' expressions and
// templates, one by one and all together.
func ruleTextLimits(rules []Rule) []*FieldError {
	var errs []*FieldError
	total := 0
	for i := range rules {
		ruleTexts(&rules[i], func(field, text string) {
			total += len(text)
			if len(text) > MaxRuleText {
				errs = append(errs, FieldErrorf(fmt.Sprintf("rules[%d].%s", i, field),
					"%s bytes long, the limit is %s", commas(int64(len(text))), commas(MaxRuleText)))
			}
		})
		if total > MaxRulesText {
			errs = append(errs, FieldErrorf(fmt.Sprintf("rules[%d]", i),
				"the expressions and templates of the rules come to more than %s bytes by this rule (the limit; a rule needs a few hundred)", commas(MaxRulesText)))
			break
		}
	}
	return errs
}

// clampForCheck cuts the rule texts past the limits out of a config that
// failed them (the decoder already dropped list elements past theirs), so
// that LoadChecked's deeper check (drivers, rule compiler) of the
// rest stays bounded. The problems are already reported, and c is thrown
// away after the check.
func (c *Config) clampForCheck() {
	total := 0
	for i := range c.Rules {
		r := &c.Rules[i]
		for _, s := range []*string{&r.When, &r.Resolve, &r.Message} {
			if len(*s) > MaxRuleText {
				*s = ""
			}
		}
		for j := range r.Actions {
			a := &r.Actions[j]
			for _, s := range []*string{&a.Text, &a.Log} {
				if len(*s) > MaxRuleText {
					*s = ""
				}
			}
			for k, v := range a.Vars {
				if len(v) > MaxRuleText {
					a.Vars[k] = ""
				}
			}
		}
		ruleTexts(r, func(_, text string) { total += len(text) })
		if total > MaxRulesText {
			c.Rules = c.Rules[:i]
			break
		}
	}
}

// stripBOM drops a UTF-8 byte-order mark (Notepad writes one).
func stripBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
}

// estimateTokens counts the YAML tokens of src roughly, without allocating
// (flow punctuation, words, "key:" as two, a quoted string or a comment as
// one), and stops at the line where the count passes limit. The YAML
// scanner returns its tokens a whole flow collection or block at a time,
// so its own count (tokenize) comes too late to bound its memory on a file
// made of tokens.
func estimateTokens(src []byte, limit int) (n, line int) {
	line = 1
	inWord := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '\n':
			line++
			inWord = false
		case ' ', '\t', '\r':
			inWord = false
		case '[', ']', '{', '}', ',':
			n++
			inWord = false
		case ':':
			if i+1 == len(src) || src[i+1] == ' ' || src[i+1] == '\n' || src[i+1] == '\r' {
				n++
				inWord = false
			} else if !inWord {
				n, inWord = n+1, true
			}
		case '#':
			if !inWord {
				n++
				for i+1 < len(src) && src[i+1] != '\n' {
					i++
				}
			}
		case '"', '\'':
			if inWord {
				break
			}
			n, inWord = n+1, true
			for i++; i < len(src); i++ {
				if src[i] == '\n' {
					line++
				}
				if c == '"' && src[i] == '\\' {
					i++
					continue
				}
				if src[i] == c {
					if c == '\'' && i+1 < len(src) && src[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		default:
			if !inWord {
				n, inWord = n+1, true
			}
		}
		if n > limit {
			return n, line
		}
	}
	return n, line
}

// tokenize is lexer.Tokenize with the limits: it stops at MaxTokens, and
// tracks the nesting depth and the keys of each block mapping as it goes.
func tokenize(file string, src string) (token.Tokens, *Problem) {
	if n, line := estimateTokens([]byte(src), MaxTokens); n > MaxTokens {
		p := problemAt(file, line, 1, "", "the config is too big: more than %s YAML tokens (keys, values, punctuation) by here; that is about 12,000 devices", commas(MaxTokens))
		return nil, &p
	}
	var s scanner.Scanner
	s.Init(src)
	var toks token.Tokens
	var lim limiter
	for calls := 0; calls <= len(src)+MaxTokens; calls++ {
		sub, err := s.Scan()
		if err == io.EOF {
			return toks, nil
		}
		for _, tk := range sub {
			if m, at := lim.add(tk); m != nil {
				l, c := tokPos(at)
				p := problemAt(file, l, c, "", m.format, m.args...)
				return nil, &p
			}
		}
		toks.Add(sub...)
	}
	p := problemAt(file, 1, 1, "", "cannot tokenize the file")
	return nil, &p
}

func tokPos(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return max(tk.Position.Line, 1), max(tk.Position.Column, 1)
}

// limiter counts tokens and follows the nesting of collections the way
// the indentation does: a stack of the columns of the open block
// collections, plus the depth of flow collections ([...] and {...}).
type limiter struct {
	n     int
	flow  int
	block []openBlock
	prev  *token.Token // the last token that is not a comment
}

type openBlock struct {
	col  int
	seq  bool
	keys int
	line int // where the collection starts
}

// add takes the next token; past a limit it returns what is wrong and the
// token to report it at.
func (l *limiter) add(tk *token.Token) (*msg, *token.Token) {
	if l.n++; l.n > MaxTokens {
		return phrase("the config is too big: more than %s YAML tokens (keys, values, punctuation) by here; that is about 12,000 devices", commas(MaxTokens)).ptr(), tk
	}
	if tk.Type == token.CommentType {
		return nil, nil
	}
	prev := l.prev
	l.prev = tk
	_, col := tokPos(tk)
	switch tk.Type {
	case token.SequenceStartType, token.MappingStartType:
		l.flow++
	case token.SequenceEndType, token.MappingEndType:
		l.flow = max(l.flow-1, 0)
	case token.DocumentHeaderType, token.DocumentEndType:
		l.block, l.flow = l.block[:0], 0
	case token.SequenceEntryType:
		if l.flow > 0 {
			break
		}
		for len(l.block) > 0 && l.top().col > col {
			l.block = l.block[:len(l.block)-1]
		}
		if len(l.block) == 0 || l.top().col != col || !l.top().seq {
			l.block = append(l.block, openBlock{col: col, seq: true, line: tk.Position.Line})
		}
	case token.MappingValueType:
		if l.flow > 0 || prev == nil || prev.Position == nil || tk.Position == nil || prev.Position.Line != tk.Position.Line {
			break
		}
		kcol := prev.Position.Column
		for len(l.block) > 0 && (l.top().col > kcol || (l.top().col == kcol && l.top().seq)) {
			l.block = l.block[:len(l.block)-1]
		}
		if len(l.block) == 0 || l.top().col != kcol {
			l.block = append(l.block, openBlock{col: kcol, line: prev.Position.Line})
		}
		t := l.top()
		if t.keys++; t.keys > MaxKeys {
			return phrase("more than %s keys in the mapping that starts at line %d", commas(MaxKeys), t.line).ptr(), prev
		}
	}
	if d := len(l.block) + l.flow; d > MaxDepth {
		return phrase("nested more than %d levels deep", MaxDepth).ptr(), tk
	}
	return nil, nil
}

func (l *limiter) top() *openBlock { return &l.block[len(l.block)-1] }

// expandedSize measures the document with every alias expanded: its nodes
// and the bytes of its scalars, in one walk (an alias counts the size of
// its anchor's value, measured once). It returns the node where the total
// passes a limit (MaxNodes, MaxExpandedBytes), or nil. Without aliases a
// document is within both (the file's size and token limits bound them).
func expandedSize(root ast.Node) (cost, ast.Node) {
	sizes := map[string]cost{} // anchor name -> expanded size of its value
	var total cost
	var over ast.Node
	var walk func(n ast.Node, depth int)
	walk = func(n ast.Node, depth int) {
		if n == nil || depth > maxDepth || over != nil {
			return
		}
		own := cost{nodes: 1}
		switch x := n.(type) {
		case *ast.MappingNode:
			for _, mv := range x.Values {
				walk(mv, depth+1)
			}
		case *ast.MappingValueNode:
			walk(x.Key, depth+1)
			walk(x.Value, depth+1)
		case *ast.SequenceNode:
			for _, v := range x.Values {
				walk(v, depth+1)
			}
		case *ast.AnchorNode:
			before := total
			walk(x.Value, depth+1)
			sizes[anchorName(x.Name)] = cost{total.nodes - before.nodes, total.bytes - before.bytes}
		case *ast.AliasNode:
			own = own.plus(sizes[anchorName(x.Value)])
		case *ast.TagNode:
			walk(x.Value, depth+1)
		case *ast.CommentGroupNode:
			own = cost{}
		default:
			own.bytes = len(scalarText(n))
		}
		if total = total.plus(own); total.over() && over == nil {
			over = n
		}
	}
	walk(root, 0)
	return total, over
}

// MaxExpandedBytes bounds the bytes of the scalars of the document with
// every alias expanded.
const MaxExpandedBytes = 4 * MaxFileSize

type cost struct{ nodes, bytes int }

func (c cost) plus(d cost) cost {
	return cost{min(c.nodes+d.nodes, MaxNodes+1), min(c.bytes+d.bytes, MaxExpandedBytes+1)}
}

func (c cost) over() bool { return c.nodes > MaxNodes || c.bytes > MaxExpandedBytes }

// Quote quotes a value from a config for a message: escaped like %q (so no
// raw byte is ever printed) and cut to 64 characters.
func Quote(s string) string {
	const maxRunes = 64
	n := 0
	for i := range s {
		if n == maxRunes {
			return strconv.Quote(s[:i]) + fmt.Sprintf("... (%s bytes)", commas(int64(len(s))))
		}
		n++
	}
	return strconv.Quote(s)
}

// clip makes s printable on one line (escaping control and invalid bytes)
// and cuts it to about n bytes.
func clip(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= n {
			b.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case !unicode.IsPrint(r) && r != ' ':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// commas writes n with thousands separators: 4,812.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
