package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Input is one driver instance: a serial port, a Modbus bus, a GPIO chip,
// a simulated compound.
type Input struct {
	// Name is unique among inputs. Required.
	Name string `yaml:"name"`
	// Driver is a registered driver name: sim, serial, modbus, gpio, modemlines.
	Driver string `yaml:"driver"`
	// Options are the driver's own settings; see drivers/<name>/README.md.
	// Default: none (the driver's defaults).
	Options RawNode `yaml:"options"`
}

// Output is one named output: a voice module, a relay, an LED sign, an SMS modem.
type Output struct {
	// Name is unique among outputs; rules and commands use it. Required.
	Name string `yaml:"name"`
	// Driver is a registered output driver name.
	Driver string `yaml:"driver"`
	// Options are the output driver's own settings. Default: none.
	Options RawNode `yaml:"options"`
}

// decoder strict-decodes a YAML subtree into a Go value, walking the node and
// the type together. Unlike a plain yaml.NodeToValue it reports every
// problem, not the first, each with its line, column and YAML path (goccy
// stops at the first error of a struct and picks an unknown key at random).
// Scalars and types with their own YAML unmarshalers are handed to goccy, so
// their conversion rules are goccy's.
type decoder struct {
	file    string
	probs   []Problem
	anchors map[string]ast.Node
	depth   int
	visits  int // nodes decoded, aliases expanded: bounded against alias bombs
	omitted int // problems past maxKept, counted only
}

// maxVisits bounds the nodes one decode walks. Parse refuses a document
// that expands past MaxNodes before decoding it; this is the backstop.
const maxVisits = MaxNodes

var (
	rawNodeType       = reflect.TypeFor[RawNode]()
	textUnmarshalType = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

func (d *decoder) addf(n ast.Node, field, format string, args ...any) {
	if len(d.probs) >= maxKept {
		d.omitted++
		return
	}
	line, col := nodePos(n)
	d.add(problemAt(d.file, line, col, field, format, args...))
}

func (d *decoder) add(p Problem) {
	if len(d.probs) >= maxKept {
		d.omitted++
		return
	}
	p.Msg = clip(p.Msg, 300)
	d.probs = append(d.probs, p)
}

// decode fills v (settable) from n. path is the YAML path of n.
func (d *decoder) decode(n ast.Node, v reflect.Value, path string) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > MaxDepth {
		d.addf(n, path, "nested more than %d levels deep", MaxDepth)
		return
	}
	if d.visits++; d.visits > maxVisits {
		if d.visits == maxVisits+1 {
			d.addf(n, path, "too many nodes (more than %d, counting alias expansions)", maxVisits)
		}
		return
	}
	n = d.unwrap(n, path)
	if n == nil || n.Type() == ast.NullType {
		return // absent or null: keep the zero value (the default)
	}
	t := v.Type()
	if t == rawNodeType {
		v.Set(reflect.ValueOf(RawNode{Node: n}))
		return
	}
	if hasYAMLUnmarshaler(t) {
		d.delegate(n, v, path)
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalType) {
		if !isScalar(n) {
			d.addf(n, path, "want a single value, got %s", describe(n))
			return
		}
		u := v.Addr().Interface().(interface{ UnmarshalText([]byte) error })
		if err := u.UnmarshalText([]byte(scalarText(n))); err != nil {
			d.addf(n, path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		before := len(d.probs)
		d.decode(n, p.Elem(), path)
		if len(d.probs) == before {
			v.Set(p)
		}
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.addf(n, path, "want a list (- item), got %s", describe(n))
			return
		}
		vals := seq.Values
		if max, ok := listMax[path]; ok && len(vals) > max {
			d.addf(vals[max], fmt.Sprintf("%s[%d]", path, max), "too many %s: %s, the limit is %s", path, commas(int64(len(vals))), commas(int64(max)))
			vals = vals[:max]
		}
		s := reflect.MakeSlice(t, len(vals), len(vals))
		for i, e := range vals {
			d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.delegate(n, v, path)
			return
		}
		mvs, ok := mappingValues(n)
		if !ok {
			d.addf(n, path, "want a mapping (key: value), got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(mvs))
		for _, mv := range mvs {
			k := keyText(mv.Key)
			e := reflect.New(t.Elem()).Elem()
			d.decode(mv.Value, e, joinPath(path, k))
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
	case reflect.Interface:
		if t.NumMethod() > 0 {
			d.delegate(n, v, path)
			return
		}
		d.decodeAny(n, v, path)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if !isScalar(n) || !scalarFits(n, t.Kind()) {
			d.addf(n, path, "want %s, got %s", kindName(t), describe(n))
			return
		}
		d.delegate(n, v, path)
	default:
		d.delegate(n, v, path)
	}
}

// decodeAny fills an empty interface: a list becomes []any, a mapping
// map[string]any, a scalar what goccy makes of it. Collections are walked
// here, not by goccy, so that every alias expansion counts against
// maxVisits.
func (d *decoder) decodeAny(n ast.Node, v reflect.Value, path string) {
	switch x := n.(type) {
	case *ast.SequenceNode:
		s := make([]any, len(x.Values))
		for i, e := range x.Values {
			d.decode(e, reflect.ValueOf(&s[i]).Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(reflect.ValueOf(s))
	case *ast.MappingNode, *ast.MappingValueNode:
		mvs, _ := mappingValues(n)
		m := make(map[string]any, len(mvs))
		for _, mv := range mvs {
			k := keyText(mv.Key)
			var e any
			d.decode(mv.Value, reflect.ValueOf(&e).Elem(), joinPath(path, k))
			m[k] = e
		}
		v.Set(reflect.ValueOf(m))
	default:
		d.delegate(n, v, path)
	}
}

// unwrap resolves anchors, aliases, tags and comments down to a value node.
func (d *decoder) unwrap(n ast.Node, path string) ast.Node {
	for i := 0; i < 16 && n != nil; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if d.anchors == nil {
				d.anchors = map[string]ast.Node{}
			}
			d.anchors[anchorName(x.Name)] = x.Value
			n = x.Value
		case *ast.AliasNode:
			name := anchorName(x.Value)
			a, ok := d.anchors[name]
			if !ok {
				d.addf(n, path, "unknown alias *%s (an anchor &%s must come first)", clip(name, 64), clip(name, 64))
				return nil
			}
			n = a
		case *ast.TagNode:
			if isScalar(x.Value) {
				return n // goccy handles !!str and friends on scalars
			}
			n = x.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
	return n
}

func anchorName(n ast.Node) string {
	if n == nil {
		return ""
	}
	return n.GetToken().Value
}

// structField is a YAML key of a struct, with the index path of its Go field
// (inline structs add a level).
type structField struct {
	index []int
}

func structFields(t reflect.Type, prefix []int, out map[string]structField) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			structFields(f.Type, idx, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = structField{index: idx}
	}
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) {
	mvs, ok := mappingValues(n)
	if !ok {
		d.addf(n, path, "want a mapping (key: value), got %s", describe(n))
		return
	}
	fields := map[string]structField{}
	structFields(v.Type(), nil, fields)
	// Merge keys (<<: *defaults) first, so that explicit keys override them.
	var merged, own []*ast.MappingValueNode
	for _, mv := range mvs {
		if keyText(mv.Key) == "<<" {
			src := d.unwrap(mv.Value, path)
			if m, ok := mappingValues(src); ok {
				merged = append(merged, m...)
			} else if src != nil {
				d.addf(mv.Value, path, "a merge key (<<) needs a mapping, got %s", describe(src))
			}
			continue
		}
		own = append(own, mv)
	}
	for _, mv := range append(merged, own...) {
		k := keyText(mv.Key)
		f, ok := fields[k]
		if !ok {
			if s := suggest(k, fields); s != "" {
				d.addf(mv.Key, joinPath(path, k), "unknown field %s (did you mean %q?)", Quote(k), s)
			} else {
				d.addf(mv.Key, joinPath(path, k), "unknown field %s", Quote(k))
			}
			continue
		}
		fv := v
		for _, i := range f.index {
			fv = fv.Field(i)
		}
		d.decode(mv.Value, fv, joinPath(path, k))
	}
}

// delegate hands n to goccy for v and turns its error into a Problem.
func (d *decoder) delegate(n ast.Node, v reflect.Value, path string) {
	p := reflect.New(v.Type())
	err := yaml.NodeToValue(n, p.Interface(), yaml.Strict())
	if err == nil {
		v.Set(p.Elem())
		return
	}
	d.addYAMLError(err, n, path, v.Type())
}

func (d *decoder) addYAMLError(err error, n ast.Node, path string, t reflect.Type) {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		d.addf(n, path, "%v", err)
		return
	}
	m := phrase("%s", ye.GetMessage())
	var te *yaml.TypeError
	var oe *yaml.OverflowError
	switch {
	case errors.As(err, &te) && t != nil:
		m = phrase("want %s, got %s", kindName(t), describe(n))
	case errors.As(err, &oe):
		m = phrase("%s is out of range for %s", clip(oe.SrcNum, 40), kindName(oe.DstType))
	}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		d.add(problemAt(d.file, tk.Position.Line, tk.Position.Column, path, m.format, m.args...))
		return
	}
	d.addf(n, path, m.format, m.args...)
}

func hasYAMLUnmarshaler(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, it := range []reflect.Type{
		reflect.TypeFor[yaml.BytesUnmarshaler](), reflect.TypeFor[yaml.InterfaceUnmarshaler](),
		reflect.TypeFor[yaml.NodeUnmarshaler](), reflect.TypeFor[yaml.BytesUnmarshalerContext](),
		reflect.TypeFor[yaml.InterfaceUnmarshalerContext](), reflect.TypeFor[yaml.NodeUnmarshalerContext](),
	} {
		if pt.Implements(it) || t.Implements(it) {
			return true
		}
	}
	return false
}

func mappingValues(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch x := n.(type) {
	case *ast.MappingNode:
		return x.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{x}, true
	}
	return nil, false
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		return false
	case *ast.TagNode:
		return isScalar(n.(*ast.TagNode).Value)
	}
	return n != nil
}

// scalarFits keeps numbers strict: an integer field takes only an integer
// (not 7.5, not "7"), a number field an integer or a float. Strings take
// any scalar (id: 123 is the string "123").
func scalarFits(n ast.Node, k reflect.Kind) bool {
	if tg, ok := n.(*ast.TagNode); ok {
		n = tg.Value
	}
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, ok := n.(*ast.IntegerNode)
		return ok
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
			return true
		}
		return false
	case reflect.Bool:
		_, ok := n.(*ast.BoolNode)
		return ok
	}
	return true
}

func scalarText(n ast.Node) string {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		return x.Value.Value
	case *ast.TagNode:
		return scalarText(x.Value)
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

func keyText(k ast.MapKeyNode) string {
	if k == nil {
		return ""
	}
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

func describe(n ast.Node) msg {
	switch x := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return phrase("a mapping (key: value)")
	case *ast.SequenceNode:
		return phrase("a list")
	case *ast.StringNode:
		return phrase("string %s", Quote(x.Value))
	case *ast.IntegerNode:
		return phrase("integer %s", clip(x.GetToken().Value, 40))
	case *ast.FloatNode:
		return phrase("number %s", clip(x.GetToken().Value, 40))
	case *ast.BoolNode:
		return phrase("boolean %s", x.GetToken().Value)
	case *ast.NullNode:
		return phrase("null")
	case *ast.LiteralNode:
		return phrase("a text block")
	}
	if n == nil {
		return phrase("nothing")
	}
	return phrase("%s", Quote(scalarText(n)))
}

func kindName(t reflect.Type) msg {
	switch t.Kind() {
	case reflect.String:
		return phrase("a string")
	case reflect.Bool:
		return phrase("true or false")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return phrase("an integer")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return phrase("a non-negative integer")
	case reflect.Float32, reflect.Float64:
		return phrase("a number")
	case reflect.Slice, reflect.Array:
		return phrase("a list")
	case reflect.Map, reflect.Struct:
		return phrase("a mapping (key: value)")
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return phrase("%s", t.String())
}

// nodePos is where a node starts: a mapping's first key, a key-value's key.
func nodePos(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(x.Values) > 0 && x.Values[0].Key != nil {
			return nodePos(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if x.Key != nil {
			return nodePos(x.Key)
		}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line, tk.Position.Column
	}
	return 0, 0
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the known key closest to k when it is a likely typo.
func suggest(k string, fields map[string]structField) string {
	if len(k) > 64 {
		return "" // no field name is that long
	}
	best, bestD := "", 3
	for name := range fields {
		if dd := editDistance(k, name); dd < bestD || (dd == bestD && best != "" && name < best) {
			best, bestD = name, dd
		}
	}
	if bestD > len(k)/3+1 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
