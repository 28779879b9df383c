package main

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// procLog collects a child process's log lines and lets a test wait for
// the lines that say what the process did, instead of polling it.
type procLog struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // closed and replaced on every line
	eof     chan struct{}
}

// watchLog reads r (a child's stderr pipe) to its end.
func watchLog(r io.Reader) *procLog {
	p := &procLog{changed: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.b.WriteString(sc.Text() + "\n")
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *procLog) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

// waitFor waits until every one of want has appeared in the log; it fails
// the test when the process ends first or after timeout.
func (p *procLog) waitFor(t *testing.T, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		s, ch := p.b.String(), p.changed
		p.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-ch:
		case <-p.eof:
			t.Fatalf("the process ended before logging %q:\n%s", missing, p.String())
		case <-deadline:
			t.Fatalf("no %q in the log after %v:\n%s", missing, timeout, p.String())
		}
	}
}

// wait waits for the end of the log (the process closed its stderr).
func (p *procLog) wait() { <-p.eof }

// poll waits for cond, checking every 20 ms; the test fails after d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}
