package config

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/goccy/go-yaml/ast"

	"github.com/edgegw/edgegw/edge"
)

// InputOptions returns the options of input i for its driver's factory.
func (c *Config) InputOptions(i int) edge.Options {
	var n ast.Node
	if i >= 0 && i < len(c.Inputs) {
		n = c.Inputs[i].Options.Node
	}
	return &options{cfg: c, base: fmt.Sprintf("inputs[%d].options", i), node: n}
}

// OutputOptions returns the options of output i for its factory.
func (c *Config) OutputOptions(i int) edge.Options {
	var n ast.Node
	if i >= 0 && i < len(c.Outputs) {
		n = c.Outputs[i].Options.Node
	}
	return &options{cfg: c, base: fmt.Sprintf("outputs[%d].options", i), node: n}
}

// NodeOptions returns an edge.Options over any RawNode of c, for other
// sections with driver-like settings; base is its YAML path.
func (c *Config) NodeOptions(base string, raw RawNode) edge.Options {
	return &options{cfg: c, base: base, node: raw.Node}
}

// options is edge.Options over a RawNode of a parsed config.
type options struct {
	cfg  *Config
	base string
	node ast.Node
}

// Decode strict-decodes the options into v (a pointer to a struct, usually).
// Absent options leave v as it is. Every problem is reported at once, as a
// *Error naming file:line:col and "inputs[2].options.<field>".
func (o *options) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("options: Decode needs a non-nil pointer, got %T", v)
	}
	if o.node == nil {
		return nil
	}
	d := &decoder{file: o.cfg.file, anchors: o.cfg.anchors}
	d.decode(o.node, rv.Elem(), o.base)
	if len(d.probs) > 0 {
		e := &Error{Problems: d.probs}
		e.sort()
		return e
	}
	return nil
}

// Errorf names field relative to the options: "devices[1].slave".
func (o *options) Errorf(field, format string, args ...any) error {
	f := o.base
	switch {
	case field == "":
	case field[0] == '[':
		f += field
	default:
		f += "." + field
	}
	return o.cfg.Errorf(f, format, args...)
}

var _ edge.Options = (*options)(nil)

// CheckDrivers builds every input and output of c with its registered
// factory, without starting anything, and closes what they opened. The
// factories validate their own options; CheckDrivers adds that device ids
// must be unique across all inputs. It returns a *Error with every problem
// (factory errors that are not *Error get the line of their options).
func CheckDrivers(c *Config) error {
	var ps []Problem
	seen := map[string]string{} // device id -> input name
	for i, in := range c.Inputs {
		f, err := edge.LookupDriver(in.Driver)
		if err != nil {
			ps = append(ps, c.problem(fmt.Sprintf("inputs[%d].driver", i), err.Error()))
			continue
		}
		base := fmt.Sprintf("inputs[%d].options", i)
		d, err := buildSafely(func() (any, error) {
			return f(edge.Env{Name: in.Name, Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, c.InputOptions(i))
		})
		if err != nil {
			ps = append(ps, c.problemsOf(err, base)...)
			continue
		}
		drv := d.(edge.Driver)
		nth := map[string]int{}
		for _, dev := range drv.Devices() {
			k := nth[dev.ID]
			nth[dev.ID]++
			node, field := findID(c.Inputs[i].Options.Node, base, dev.ID, k)
			if dev.ID == "" {
				ps = append(ps, c.problem(base, "a device has an empty id"))
				continue
			}
			if other, dup := seen[dev.ID]; dup {
				p := c.problem(base, fmt.Sprintf("duplicate device id %q (also in input %q)", dev.ID, other))
				if node != nil {
					p.Line, p.Col = nodePos(node)
					p.Field = field
				}
				ps = append(ps, p)
				continue
			}
			seen[dev.ID] = in.Name
		}
		if cl, ok := drv.(edge.Closer); ok {
			_ = cl.Close()
		}
	}
	for i, out := range c.Outputs {
		f, err := edge.LookupOutput(out.Driver)
		if err != nil {
			ps = append(ps, c.problem(fmt.Sprintf("outputs[%d].driver", i), err.Error()))
			continue
		}
		o, err := buildSafely(func() (any, error) {
			return f(edge.Env{Name: out.Name, Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, c.OutputOptions(i))
		})
		if err != nil {
			ps = append(ps, c.problemsOf(err, fmt.Sprintf("outputs[%d].options", i))...)
			continue
		}
		if cl, ok := o.(edge.Closer); ok {
			_ = cl.Close()
		}
	}
	if len(ps) == 0 {
		return nil
	}
	e := &Error{Problems: ps}
	e.sort()
	return e
}

// buildSafely runs a factory; a panic in it is reported, not propagated.
func buildSafely(f func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("driver panicked while checking its options: %v", r)
		}
	}()
	v, err = f()
	if err == nil && (v == nil || reflect.ValueOf(v).IsZero()) {
		err = errors.New("driver factory returned nothing")
	}
	return v, err
}

// problemsOf turns a factory's error into Problems: a *Error (or several,
// joined) keeps its own; anything else is placed at field.
func (c *Config) problemsOf(err error, field string) []Problem {
	var out []Problem
	for _, p := range Problems(err) {
		if p.File == "" && p.Line == 0 && p.Field == "" {
			p = c.problem(field, p.Msg)
		}
		out = append(out, p)
	}
	return out
}

// findID finds the k-th "id: <id>" scalar under n (k counts from 0) and
// its YAML path, so a duplicate device id is reported on its own line. It
// returns (nil, base) when there is none (a driver that makes its ids).
func findID(n ast.Node, base, id string, k int) (ast.Node, string) {
	var found ast.Node
	foundPath := base
	count := 0
	var walk func(ast.Node, string, int)
	walk = func(n ast.Node, path string, depth int) {
		if n == nil || found != nil || depth > 32 {
			return
		}
		switch x := n.(type) {
		case *ast.MappingNode:
			for _, mv := range x.Values {
				walk(mv, path, depth+1)
			}
		case *ast.MappingValueNode:
			p := joinPath(path, keyText(x.Key))
			if keyText(x.Key) == "id" && isScalar(x.Value) && scalarText(x.Value) == id {
				if count == k {
					found, foundPath = x.Value, p
					return
				}
				count++
			}
			walk(x.Value, p, depth+1)
		case *ast.SequenceNode:
			for i, v := range x.Values {
				walk(v, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		case *ast.AnchorNode:
			walk(x.Value, path, depth+1)
		}
	}
	walk(n, base, 0)
	return found, foundPath
}
