package actions

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Meter counts every Apply of every output, with its duration. The gateway
// keeps one across config reloads (a runner is made per config), so the
// counters only grow while the process runs.
type Meter struct {
	mu  sync.Mutex
	out map[string]*edge.OutputStats
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{out: map[string]*edge.OutputStats{}} }

// maxErrorText bounds the last error kept per output.
const maxErrorText = 200

// observe counts one call of output name that took d and ended with err.
func (m *Meter) observe(name string, d time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.out[name]
	if s == nil {
		s = &edge.OutputStats{Name: name, Buckets: make([]uint64, len(edge.LatencyBuckets))}
		m.out[name] = s
	}
	if err != nil {
		s.Failed++
		s.LastError = err.Error()
		if len(s.LastError) > maxErrorText {
			s.LastError = strings.ToValidUTF8(s.LastError[:maxErrorText], "") + "..."
		}
	} else {
		s.OK++
	}
	sec := max(0, d.Seconds())
	s.Count++
	s.SumSeconds += sec
	for i, b := range edge.LatencyBuckets {
		if sec <= b {
			s.Buckets[i]++
		}
	}
}

// Stats returns a copy of every output's counters, sorted by name.
func (m *Meter) Stats() []edge.OutputStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]edge.OutputStats, 0, len(m.out))
	for _, s := range m.out {
		c := *s
		c.Buckets = slices.Clone(s.Buckets)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b edge.OutputStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}
