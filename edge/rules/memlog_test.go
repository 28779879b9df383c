package rules

import (
	"context"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// memLog is an in-memory edge.Log and edge.StateStore for engine tests
// that must inject faults the real store cannot (a failing append); the
// restart tests use the real store (store_test.go).
type memLog struct {
	mu      sync.Mutex
	evs     []edge.Event
	cursors map[string]uint64
	state   map[string][]byte
	waiters []chan struct{}
	failApp int // fail this many appends
}

func newMemLog() *memLog {
	return &memLog{cursors: map[string]uint64{}, state: map[string][]byte{}}
}

func (m *memLog) Epoch() uint64 { return 42 }

func (m *memLog) Append(ctx context.Context, evs ...edge.Event) ([]edge.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failApp > 0 {
		m.failApp--
		return nil, context.DeadlineExceeded
	}
	out := make([]edge.Event, len(evs))
	for i, ev := range evs {
		ev.Epoch, ev.Seq = 42, uint64(len(m.evs)+1)
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		if ev.Priority == 0 {
			ev.Priority = edge.DefaultPriority(ev.Kind)
		}
		if ev.Alert != nil {
			a := *ev.Alert
			ev.Alert = &a
		}
		m.evs = append(m.evs, ev)
		out[i] = ev
	}
	for _, w := range m.waiters {
		close(w)
	}
	m.waiters = nil
	return out, nil
}

func (m *memLog) AppendAsync(ev edge.Event, done func(edge.Event, error)) error {
	out, err := m.Append(context.Background(), ev)
	if done != nil {
		if err != nil {
			done(ev, err)
		} else {
			done(out[0], nil)
		}
	}
	return nil
}

func (m *memLog) Read(from uint64, max int) ([]edge.Event, error) {
	return m.ReadPriority(from, 0, max)
}

func (m *memLog) ReadPriority(from uint64, min edge.Priority, max int) ([]edge.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []edge.Event
	if from == 0 {
		from = 1
	}
	for i := int(from) - 1; i < len(m.evs) && len(out) < max; i++ {
		if m.evs[i].Priority >= min {
			out = append(out, m.evs[i])
		}
	}
	return out, nil
}

func (m *memLog) LastSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.evs))
}

func (m *memLog) Wait(after uint64) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{})
	if uint64(len(m.evs)) > after {
		close(ch)
		return ch
	}
	m.waiters = append(m.waiters, ch)
	return ch
}

func (m *memLog) Cursor(name string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.cursors[name]; ok {
		return c, nil
	}
	return 1, nil
}

func (m *memLog) SetCursor(name string, next uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cursors[name] = next
	return nil
}

func (m *memLog) GetState(key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state[key], nil
}

func (m *memLog) PutState(key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state[key] = append([]byte(nil), val...)
	return nil
}

func (m *memLog) DeleteState(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.state, key)
	return nil
}

var _ edge.Log = (*memLog)(nil)
var _ edge.StateStore = (*memLog)(nil)
