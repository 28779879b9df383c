package modbus

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// Compiling points: type, order, bits, scale and rounding checked once,
// and a device's points merged into as few reads as possible.

func compilePoint(po *PointOptions, f string, opts edge.Options) (*point, error) {
	if po.Name == "" {
		return nil, opts.Errorf(f+".name", "a point needs a name")
	}
	table, err := ParseTable(po.Table)
	if err != nil {
		return nil, opts.Errorf(f+".table", "%v", err)
	}
	p := &point{name: po.Name, unit: po.Unit, table: table, addr: po.Address, bit: -1, bitHi: -1, scale: 1,
		offset: po.Offset, deadband: po.Deadband, on: po.On, off: po.Off, invert: po.Invert}
	if po.Address < 0 || po.Address > 0xFFFF {
		return nil, opts.Errorf(f+".address", "address %d out of range 0..65535", po.Address)
	}
	typ := po.Type
	if typ == "" {
		typ = "uint16"
		if table.IsBits() || po.Bit != nil {
			typ = "bool"
		}
	}
	if p.typ, err = ParseDataType(typ); err != nil {
		return nil, opts.Errorf(f+".type", "%v", err)
	}
	orderField, order := "order", po.Order
	if po.WordOrder != "" {
		if po.Order != "" {
			return nil, opts.Errorf(f+".word_order", "set order or word_order (its older name), not both")
		}
		orderField, order = "word_order", po.WordOrder
	}
	if p.order, err = ParseWordOrder(order); err != nil {
		return nil, opts.Errorf(f+"."+orderField, "%v", err)
	}
	if order != "" && (table.IsBits() || p.typ == TypeBool || po.Bits != "") {
		return nil, opts.Errorf(f+"."+orderField, "%s applies to register values, not to bits", orderField)
	}
	if p.typ.Words() == 1 && p.order.wordSwap() && po.Bits == "" {
		return nil, opts.Errorf(f+"."+orderField, "%s is one register: it has no word order (BADC swaps its two bytes)", p.typ)
	}
	if p.typ == TypeString {
		if po.Registers < 1 || po.Registers > MaxReadRegisters {
			return nil, opts.Errorf(f+".registers", "a string needs registers: 1..%d (two characters each)", MaxReadRegisters)
		}
		if p.order.wordSwap() {
			return nil, opts.Errorf(f+"."+orderField, "a string's order is ABCD (first character in the high byte) or BADC (in the low byte)")
		}
		p.regs, p.isText = po.Registers, true
	} else if po.Registers != 0 {
		return nil, opts.Errorf(f+".registers", "registers applies to type string; the other types have their own size")
	}
	switch {
	case table.IsBits():
		if p.typ != TypeBool {
			return nil, opts.Errorf(f+".type", "a %s is a single bit: type must be bool, not %s", table, p.typ)
		}
		if po.Bit != nil || po.Bits != "" {
			return nil, opts.Errorf(f+".bit", "bit and bits apply only to holding and input registers")
		}
		p.isState = true
	case po.Bit != nil && po.Bits != "":
		return nil, opts.Errorf(f+".bits", "set bit (one bit, a state) or bits (a range, a number), not both")
	case po.Bit != nil:
		if *po.Bit < 0 || *po.Bit > 15 {
			return nil, opts.Errorf(f+".bit", "bit %d out of range 0..15", *po.Bit)
		}
		if p.typ != TypeBool {
			return nil, opts.Errorf(f+".type", "a bit point has type bool, not %s", p.typ)
		}
		p.bit, p.isState = *po.Bit, true
	case po.Bits != "":
		lo, hi, ok := parseBitRange(po.Bits)
		if !ok {
			return nil, opts.Errorf(f+".bits", "bits %q: want LO-HI within 0..15, such as 4-7", po.Bits)
		}
		if po.Type != "" && p.typ != TypeUint16 {
			return nil, opts.Errorf(f+".type", "a bit range is an unsigned number of one register: type uint16, not %s", p.typ)
		}
		p.typ, p.bit, p.bitHi = TypeUint16, lo, hi
	case p.typ == TypeBool:
		return nil, opts.Errorf(f+".type", "type bool on a register needs bit: 0..15")
	}
	if p.addr+p.words() > 0x10000 {
		return nil, opts.Errorf(f+".address", "%s at %d runs past address 65535", p.typ, p.addr)
	}
	if po.Scale != nil {
		if *po.Scale == 0 || math.IsNaN(*po.Scale) || math.IsInf(*po.Scale, 0) {
			return nil, opts.Errorf(f+".scale", "scale may not be 0, NaN or infinite")
		}
		p.scale = *po.Scale
	}
	p.decimals = -1
	switch {
	case po.Decimals != nil:
		if *po.Decimals < 0 || *po.Decimals > 12 {
			return nil, opts.Errorf(f+".decimals", "decimals %d out of range 0..12", *po.Decimals)
		}
		p.decimals = *po.Decimals
	case p.typ.IsInteger() && (p.scale != 1 || p.offset != 0):
		p.decimals = min(max(Decimals(p.scale), Decimals(p.offset)), 12)
	}
	if p.isText && (po.Scale != nil || po.Offset != 0 || po.Deadband != 0 || po.Unit != "" || po.Decimals != nil) {
		return nil, opts.Errorf(f, "scale, offset, decimals, deadband and unit apply to numbers, not to strings")
	}
	if po.Deadband < 0 {
		return nil, opts.Errorf(f+".deadband", "deadband may not be negative")
	}
	if p.isState {
		if p.on == "" {
			p.on = "on"
		}
		if p.off == "" {
			p.off = "off"
		}
		if po.Scale != nil || po.Offset != 0 || po.Deadband != 0 || po.Unit != "" || po.Decimals != nil {
			return nil, opts.Errorf(f, "scale, offset, decimals, deadband and unit apply to register values, not to states")
		}
	} else if po.On != "" || po.Off != "" || po.Invert {
		return nil, opts.Errorf(f, "on, off and invert apply to coils, discrete inputs and bits, not to register values")
	}
	return p, nil
}

// planBlocks merges a device's points of one group into as few reads as
// possible: points of one table whose addresses touch, overlap or lie at
// most max_gap apart share a request, up to the device's max_read. Gaps
// are read across only as far as max_gap allows (default 0), since many
// slaves answer ILLEGAL DATA ADDRESS for unmapped registers.
func planBlocks(d *device, g string) []*block {
	byTable := map[Table][]*point{}
	for _, p := range d.points {
		if p.group == g {
			byTable[p.table] = append(byTable[p.table], p)
		}
	}
	var out []*block
	for _, t := range []Table{Coil, Discrete, Holding, Input} {
		ps := byTable[t]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].addr < ps[j].addr })
		limit, gap := d.maxRead, d.maxGap
		if t.IsBits() {
			limit, gap = min(16*d.maxRead, MaxReadBits), 16*d.maxGap
		}
		var cur *block
		for _, p := range ps {
			end := p.addr + p.words()
			if cur != nil && p.addr <= cur.addr+cur.qty+gap && max(end, cur.addr+cur.qty)-cur.addr <= limit {
				cur.qty = max(end, cur.addr+cur.qty) - cur.addr
				cur.points = append(cur.points, p)
				continue
			}
			cur = &block{dev: d, table: t, addr: p.addr, qty: p.words(), points: []*point{p}}
			out = append(out, cur)
		}
	}
	return out
}

// parseBitRange parses "LO-HI" (or a single "N") within 0..15.
func parseBitRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 0 || hi > 15 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}
