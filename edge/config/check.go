package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

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

// MaxDevices bounds the devices of all inputs together: a compound has a
// few thousand; the simulator makes up to about 100,000 per input.
const MaxDevices = 200_000

// CheckDrivers builds every input and output of c with its registered
// factory, without starting anything, and closes what they opened. The
// factories validate their own options; CheckDrivers adds that device ids
// must be unique across all inputs, and at most MaxDevices. It returns a
// *Error with every problem (factory errors that are not *Error get the
// line of their options). Its cost is linear in the number of devices.
func CheckDrivers(c *Config) error {
	var ps []Problem
	omitted := 0
	add := func(p ...Problem) {
		for _, q := range p {
			if len(ps) >= maxKept {
				omitted++
				continue
			}
			ps = append(ps, q)
		}
	}
	seen := map[string]string{} // device id -> input name
	total := 0
	for i, in := range c.Inputs {
		f, err := edge.LookupDriver(in.Driver)
		if err != nil {
			add(c.problemf(fmt.Sprintf("inputs[%d].driver", i), "unknown driver %q (known: %s)", in.Driver, strings.Join(edge.Drivers(), ", ")))
			continue
		}
		base := fmt.Sprintf("inputs[%d].options", i)
		d, err := buildSafely(func() (any, error) {
			return f(edge.Env{Name: in.Name, Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, c.InputOptions(i))
		})
		if err != nil {
			add(c.problemsOf(err, base)...)
			continue
		}
		drv := d.(edge.Driver)
		devs := drv.Devices()
		if cl, ok := drv.(edge.Closer); ok {
			_ = cl.Close()
		}
		if total += len(devs); total > MaxDevices {
			add(c.problemf(base, "too many devices: this input brings the total to %s, the limit is %s (the inputs after it were not checked)", commas(int64(total)), commas(MaxDevices)))
			break
		}
		var ids *idIndex // built on the first problem: most inputs have none
		nth := map[string]int{}
		for _, dev := range devs {
			k := nth[dev.ID]
			nth[dev.ID]++
			if dev.ID == "" {
				add(c.problemf(base, "a device has an empty id"))
				continue
			}
			if err := edge.CheckLocation(dev.Location); err != nil {
				p := c.problemf(base, "device %s: %v", Quote(dev.ID), err)
				if ids == nil {
					ids = indexIDs(c.Inputs[i].Options.Node)
				}
				if at := ids.find(dev.ID, k); at != nil {
					p.Line, p.Col = nodePos(at.node)
					p.Field = strings.TrimSuffix(at.path(base), ".id") + ".location"
				}
				add(p)
			}
			other, dup := seen[dev.ID]
			if !dup {
				seen[dev.ID] = in.Name
				continue
			}
			if len(ps) >= maxKept {
				omitted++
				continue
			}
			p := c.problemf(base, "duplicate device id %s (also in input %s)", Quote(dev.ID), Quote(other))
			if ids == nil {
				ids = indexIDs(c.Inputs[i].Options.Node)
			}
			if at := ids.find(dev.ID, k); at != nil {
				p.Line, p.Col = nodePos(at.node)
				p.Field = at.path(base)
			}
			add(p)
		}
	}
	for i, out := range c.Outputs {
		f, err := edge.LookupOutput(out.Driver)
		if err != nil {
			add(c.problemf(fmt.Sprintf("outputs[%d].driver", i), "unknown output driver %q (known: %s)", out.Driver, strings.Join(edge.Outputs(), ", ")))
			continue
		}
		o, err := buildSafely(func() (any, error) {
			return f(edge.Env{Name: out.Name, Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, c.OutputOptions(i))
		})
		if err != nil {
			add(c.problemsOf(err, fmt.Sprintf("outputs[%d].options", i))...)
			continue
		}
		if cl, ok := o.(edge.Closer); ok {
			_ = cl.Close()
		}
	}
	add(c.sharedPorts()...)
	if len(ps) == 0 && omitted == 0 {
		return nil
	}
	e := newError(ps...)
	e.Omitted += omitted
	return e
}

// sharedPorts finds one port named by inputs or outputs of different
// drivers: a port is opened by one driver at a time (the drivers that
// share a bus, such as a modbus input and its relay outputs, share it
// within their own family), so the second would fail at run time, every
// few seconds, with its device offline. Caught here instead, with the
// line of each.
func (c *Config) sharedPorts() []Problem {
	type use struct {
		what, name, driver string
		node               ast.Node
		field              string
	}
	byPort := map[string][]use{}
	var order []string
	note := func(what, name, driver string, opts RawNode, field string) {
		port, n := optionString(opts.Node, "port")
		if port == "" {
			return
		}
		if _, ok := byPort[port]; !ok {
			order = append(order, port)
		}
		byPort[port] = append(byPort[port], use{what, name, driver, n, field})
	}
	for i, in := range c.Inputs {
		note("input", in.Name, in.Driver, in.Options, fmt.Sprintf("inputs[%d].options.port", i))
	}
	for i, out := range c.Outputs {
		note("output", out.Name, out.Driver, out.Options, fmt.Sprintf("outputs[%d].options.port", i))
	}
	var ps []Problem
	for _, port := range order {
		us := byPort[port]
		for _, u := range us[1:] {
			if u.driver == us[0].driver {
				continue
			}
			format := "port %s is also used by input %s (driver %s): a port is opened by one driver; give each device its own port"
			if us[0].what == "output" {
				format = "port %s is also used by output %s (driver %s): a port is opened by one driver; give each device its own port"
			}
			p := c.problemf(u.field, format, Quote(port), Quote(us[0].name), us[0].driver)
			if u.node != nil {
				p.Line, p.Col = nodePos(u.node)
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// optionString returns the string value of key in a driver's options
// mapping, and its node; "" when absent or not a string.
func optionString(n ast.Node, key string) (string, ast.Node) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return "", nil
	}
	for _, kv := range m.Values {
		if k, ok := kv.Key.(*ast.StringNode); ok && k.Value == key {
			if v, ok := kv.Value.(*ast.StringNode); ok {
				return v.Value, v
			}
		}
	}
	return "", nil
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
			p.Field = field
			p = c.place(p)
		}
		out = append(out, p)
	}
	return out
}

// idIndex holds every "id: <scalar>" under a driver's options in file
// order, so that a duplicate device id is reported on its own line. It is
// built in one walk (a lookup per device would make the check quadratic in
// the number of devices).
type idIndex struct {
	byID map[string][]*idAt
}

// idAt is one "id:" value and the path segments that lead to it; the path
// string is made only for the few that are reported.
type idAt struct {
	node ast.Node
	segs []pathSeg
}

func (a *idAt) path(base string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, s := range a.segs {
		if s.index {
			fmt.Fprintf(&b, "[%d]", s.i)
		} else {
			b.WriteString(".")
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// find returns the k-th (from 0) occurrence of id, or nil (a driver that
// makes its ids).
func (x *idIndex) find(id string, k int) *idAt {
	if l := x.byID[id]; k < len(l) {
		return l[k]
	}
	return nil
}

func indexIDs(n ast.Node) *idIndex {
	x := &idIndex{byID: map[string][]*idAt{}}
	var segs []pathSeg
	var walk func(ast.Node, int)
	walk = func(n ast.Node, depth int) {
		if n == nil || depth > maxDepth {
			return
		}
		switch v := n.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv, depth+1)
			}
		case *ast.MappingValueNode:
			k := keyText(v.Key)
			segs = append(segs, pathSeg{key: k})
			if k == "id" && isScalar(v.Value) {
				id := scalarText(v.Value)
				x.byID[id] = append(x.byID[id], &idAt{node: v.Value, segs: append([]pathSeg(nil), segs...)})
			}
			walk(v.Value, depth+1)
			segs = segs[:len(segs)-1]
		case *ast.SequenceNode:
			for i, e := range v.Values {
				segs = append(segs, pathSeg{i: i, index: true})
				walk(e, depth+1)
				segs = segs[:len(segs)-1]
			}
		case *ast.AnchorNode:
			walk(v.Value, depth+1)
		}
	}
	walk(n, 0)
	return x
}
