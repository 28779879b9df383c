package status

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// LogRing keeps the last N log lines in memory for the support bundle
// (`edgegw diag` reads them at /api/logs). Install it by wrapping the
// gateway's handler:
//
//	ring := status.NewLogRing(2000, slog.LevelInfo)
//	logger := slog.New(ring.Wrap(slog.NewTextHandler(os.Stderr, nil)))
type LogRing struct {
	level slog.Leveler
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

// NewLogRing keeps n lines of level and above (n <= 0 means 1000).
func NewLogRing(n int, level slog.Leveler) *LogRing {
	if n <= 0 {
		n = 1000
	}
	if level == nil {
		level = slog.LevelInfo
	}
	return &LogRing{level: level, lines: make([]string, n)}
}

func (r *LogRing) add(line string) {
	r.mu.Lock()
	r.lines[r.next] = line
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Lines returns the kept lines, oldest first.
func (r *LogRing) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.full {
		out = append(out, r.lines[r.next:]...)
	}
	return append(out, r.lines[:r.next]...)
}

type ringWriter struct{ r *LogRing }

func (w ringWriter) Write(p []byte) (int, error) {
	w.r.add(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Wrap returns a handler that records each record as a text line in the ring
// and passes it on to next (when next is enabled for its level). next may be
// nil: the ring alone.
func (r *LogRing) Wrap(next slog.Handler) slog.Handler {
	return &ringHandler{
		ring: r,
		next: next,
		text: slog.NewTextHandler(ringWriter{r}, &slog.HandlerOptions{Level: r.level}),
	}
}

type ringHandler struct {
	ring *LogRing
	next slog.Handler
	text slog.Handler
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l) || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if h.text.Enabled(ctx, rec.Level) {
		_ = h.text.Handle(ctx, rec)
	}
	if h.next != nil && h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &ringHandler{ring: h.ring, text: h.text.WithAttrs(as)}
	if h.next != nil {
		n.next = h.next.WithAttrs(as)
	}
	return n
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	n := &ringHandler{ring: h.ring, text: h.text.WithGroup(name)}
	if h.next != nil {
		n.next = h.next.WithGroup(name)
	}
	return n
}
