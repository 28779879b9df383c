package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/edge"

	"github.com/goccy/go-yaml/ast"
)

// RawNode keeps a YAML subtree undecoded, with its positions, so that a
// driver can strict-decode its own options later and still name file:line.
type RawNode struct {
	Node ast.Node
}

// UnmarshalYAML implements yaml.NodeUnmarshaler.
func (r *RawNode) UnmarshalYAML(n ast.Node) error {
	r.Node = n
	return nil
}

// IsZero reports whether no options were given.
func (r RawNode) IsZero() bool { return r.Node == nil }

// Duration is edge.Duration: a time.Duration written as "5ms", "10m",
// "168h".
type Duration = edge.Duration

// ByteSize is a size in bytes written as "512MiB", "1GiB", "64KB" or a number.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(t []byte) error {
	s := strings.TrimSpace(string(t))
	mult := int64(1)
	num := s
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f >= 0) || f*float64(mult) > 1<<62 {
		return edge.Msgf("invalid size %q: want a number with an optional unit such as 64MiB, 1GiB", s)
	}
	*b = ByteSize(f * float64(mult))
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return strconv.FormatInt(int64(b), 10)
}
