package edge

import (
	"strings"
	"time"
)

// Duration is a time.Duration written in config files as "5ms", "10m",
// "168h". It lives in edge, not in edge/config, so that drivers decoding
// their own options depend on edge alone.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return Msgf("invalid duration %q: want a number with a unit such as 500ms, 10s, 5m, 2h", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
