//go:build unix

package ptytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Socat is a pty pair made by socat: two serial-like paths A and B joined
// back to back, so that programs this project did not write (a libmodbus
// slave, minicom) can sit on one end. Kill and Start unplug and replug both.
// Tests using it fail when CI is set and socat is missing, and skip
// otherwise.
type Socat struct {
	A, B string
	t    testing.TB
	bin  string
	cmd  *exec.Cmd
}

// NewSocat starts socat and waits for both links to exist.
func NewSocat(t testing.TB) *Socat {
	t.Helper()
	dir := t.TempDir()
	s := &Socat{t: t, A: filepath.Join(dir, "A"), B: filepath.Join(dir, "B"), bin: needTool(t, "socat")}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start (re)starts socat on the same link paths.
func (s *Socat) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.Kill()
	}
	cmd := exec.Command(s.bin,
		"pty,raw,echo=0,link="+s.A, "pty,raw,echo=0,link="+s.B)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("ptytest: start socat: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ea := os.Stat(s.A)
		_, eb := os.Stat(s.B)
		if ea == nil && eb == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("ptytest: socat links %s, %s did not appear: %v", s.A, s.B, fmt.Sprint(ea, eb))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill unplugs: socat gets SIGKILL and the links go away.
func (s *Socat) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	os.Remove(s.A) // SIGKILL leaves the links behind
	os.Remove(s.B)
}
