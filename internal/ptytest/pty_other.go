//go:build !unix

package ptytest

import (
	"os"
	"testing"
	"time"
)

// Supported reports whether pseudo-terminal pairs work on this OS.
const Supported = false

// Pair is unavailable on this OS; New skips the test.
type Pair struct{}

// New skips the test: there are no pseudo-terminals here.
func New(t testing.TB) *Pair {
	t.Skip("ptytest: no pseudo-terminals on this OS")
	return nil
}

func (p *Pair) Path() string                                       { return "" }
func (p *Pair) Far() *os.File                                      { return nil }
func (p *Pair) Write(b []byte) (int, error)                        { return 0, os.ErrInvalid }
func (p *Pair) Read(b []byte) (int, error)                         { return 0, os.ErrInvalid }
func (p *Pair) ReadTimeout(b []byte, d time.Duration) (int, error) { return 0, os.ErrInvalid }
func (p *Pair) Expect(want []byte, d time.Duration) []byte         { return nil }
func (p *Pair) Unplug()                                            {}
func (p *Pair) Replug()                                            {}
func (p *Pair) Close()                                             {}

// Socat is unavailable on this OS.
type Socat struct{ A, B string }

// NewSocat skips the test.
func NewSocat(t testing.TB) *Socat {
	needTool(t, "socat")
	t.Skip("ptytest: no pseudo-terminals on this OS")
	return nil
}
func (s *Socat) Start() {}
func (s *Socat) Kill()  {}
