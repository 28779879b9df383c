// Package hostile makes the config files an installer's slip or a broken
// tool writes (tens of thousands of devices, 50 MB of text or binary, an
// alias bomb, deep nesting), for the loader's fuzz seeds and for the tests
// and scripts that check `edgegw validate` and `run` refuse them within
// their bounds (docs/hardening.md, section 6).
package hostile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf16"
)

// Shape is one kind of hostile file.
type Shape struct {
	Name string
	// Size is the full size in bytes the shape is made at (about).
	Size int
	// Want is a substring of the error that refuses it ("" when the file is
	// valid: the largest configs that pass).
	Want string
	gen  func(size int) []byte
}

// Make returns the shape at about size bytes (Size when size is 0).
// Small sizes keep the shape but may not reach the limit it tests.
func (s Shape) Make(size int) []byte {
	if size <= 0 {
		size = s.Size
	}
	return s.gen(size)
}

// header starts every shape; its relative store.dir keeps a gateway that
// would start on one (none should) out of the box's data directory.
const header = "gateway: {id: gw1}\nstore: {dir: edgegw-data}\n"

// Shapes are every hostile shape, in a fixed order.
func Shapes() []Shape {
	return []Shape{
		{"devices-30k", 3_700_000, "YAML tokens", func(n int) []byte { return devices(n/125, false) }},
		{"devices-30k-dup", 3_700_000, "YAML tokens", func(n int) []byte { return devices(n/125, true) }},
		{"devices-11k", 1_400_000, "", func(n int) []byte { return devices(n/125, false) }},
		{"devices-11k-dup", 1_400_000, "duplicate device id", func(n int) []byte { return devices(n/125, true) }},
		{"outputs-24k", 700_000, "too many outputs", manyOutputs},
		{"text-50MB", 50 << 20, "too big", text},
		{"binary-50MB", 50 << 20, "too big", binary},
		{"binary-1MB", 1 << 20, "not UTF-8", binary},
		{"nul", 1 << 10, "NUL", nul},
		{"utf16", 1 << 10, "UTF-16", utf16File},
		{"alias-bomb", 1 << 10, "aliases expand", aliasBomb},
		{"alias-bomb-strings", 3 << 20, "aliases expand", aliasStrings},
		{"deep-flow", 2 << 20, "YAML tokens", deepFlow},
		{"deep-flow-100k", 200_000, "nested more than", deepFlow},
		{"deep-block", 200_000, "nested more than", deepBlock},
		{"wide-mapping", 1_300_000, "keys in the mapping", wideMapping},
		{"flow-4MB", 4<<20 - 1024, "YAML tokens", flowList},
		{"many-errors", 120_000, "more problems", manyErrors},
		{"long-key", 3 << 20, "unknown field", longKey},
		{"rules-text", 4<<20 - 1024, "expressions and templates", rulesText},
		{"sim-inputs", 100_000, "too many devices", simInputs},
	}
}

// Get returns the shape named name.
func Get(name string) (Shape, bool) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// devices is a serial input with n devices, one per 4 lines (about 125
// bytes each); dup gives every id twice.
func devices(n int, dup bool) []byte {
	var b bytes.Buffer
	b.WriteString(header + `inputs:
  - name: camera
    driver: serial
    options:
      port: /dev/ttyUSB0
      framing: {mode: line, max_length: 256}
      decode:
        regexp:
          pattern: '^(?P<cam>[A-Z0-9]+),(?P<state>[A-Z]+)$'
          device_group: cam
          points:
            - {group: state, point: alarm, kind: state, values: {FALL: 1, CLEAR: 0}}
      devices:
`)
	for i := range n {
		id := i
		if dup {
			id = i / 2
		}
		fmt.Fprintf(&b, "        - id: camera-%06d\n          match: CAM%06d\n          location: sunrise/b%02d/u%d\n          tags: [camera, falling-object]\n", id, i, i%50, i%7)
	}
	return b.Bytes()
}

func text(n int) []byte {
	line := "# a long comment a broken tool wrote again and again, over and over\n"
	return []byte(header + strings.Repeat(line, n/len(line)))
}

func binary(n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func nul(int) []byte {
	return []byte(header + "log:\n  level: in\x00fo\n")
}

func utf16File(int) []byte {
	src := header + "log: {level: info}\n"
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(src)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

// aliasBomb is the billion laughs: nine levels of ten aliases each.
func aliasBomb(int) []byte {
	var b strings.Builder
	b.WriteString(header + "inputs:\n  - name: a\n    driver: sim\n    options:\n")
	b.WriteString(`      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]` + "\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "      l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

// aliasStrings repeats one long string through aliases: few nodes, many
// bytes.
func aliasStrings(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "rules:\n  - name: r\n    match:\n      devices: [&s \"")
	b.WriteString(strings.Repeat("x", n/2))
	b.WriteString("\"")
	for range 20_000 {
		b.WriteString(", *s")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

func deepFlow(n int) []byte {
	d := (n - len(header) - 10) / 2
	return []byte(header + "rules: " + strings.Repeat("[", d) + strings.Repeat("]", d) + "\n")
}

func deepBlock(n int) []byte {
	d := (n - len(header) - 10) / 2
	return []byte(header + "rules:\n" + strings.Repeat("- ", d) + "x\n")
}

// wideMapping is one block mapping with ever more keys: the YAML library's
// parser is quadratic in them.
func wideMapping(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "inputs:\n  - name: a\n    driver: sim\n    options:\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "      key%06d: %d\n", i, i)
	}
	return []byte(b.String())
}

func flowList(n int) []byte {
	k := (n - len(header) - 20) / 2
	return []byte(header + "rules: [" + strings.Repeat("1,", k) + "1]\n")
}

// manyOutputs is tens of thousands of simulated outputs.
func manyOutputs(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "outputs:\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "  - {name: out%d, driver: sim}\n", i)
	}
	return []byte(b.String())
}

// manyErrors is hundreds of inputs with several mistakes each.
func manyErrors(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "inputs:\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "  - name: in%d\n    driver: nope%d\n    extra: %d\n", i%10, i, i)
	}
	return []byte(b.String())
}

func longKey(n int) []byte {
	return []byte(header + "log:\n  \"" + strings.Repeat("\u00e9\u202e", n/5) + "\": 1\n")
}

// rulesText is rules whose expressions fill the file.
func rulesText(n int) []byte {
	expr := strings.Repeat("event.value > 1 && ", 200) + "true"
	var b strings.Builder
	b.WriteString(header + "rules:\n")
	for i := 0; b.Len()+len(expr)+40 < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    when: '%s'\n", i, expr)
	}
	return []byte(b.String())
}

// simInputs asks the simulator for 100,000 devices per input, many times.
func simInputs(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "inputs:\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "  - {name: sim%d, driver: sim, options: {compound: c%d, buildings: 100, units: 50, households: 20}}\n", i, i)
	}
	return []byte(b.String())
}
