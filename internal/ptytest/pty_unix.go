//go:build unix

package ptytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Supported reports whether pseudo-terminal pairs work on this OS.
const Supported = true

// Pair is one pty pair. Path is the near end for the code under test; the
// Pair's Read and Write are the far end (the device).
type Pair struct {
	t    testing.TB
	path string // symlink to the current slave

	mu     sync.Mutex
	master *os.File
	slave  *os.File // held open so the line stays up while the near end reconnects
}

// New makes a plugged-in pair whose near end is at Path(). It is closed
// when the test ends.
func New(t testing.TB) *Pair {
	t.Helper()
	p := &Pair{t: t, path: filepath.Join(t.TempDir(), "tty")}
	if err := p.plug(); err != nil {
		t.Fatalf("ptytest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *Pair) plug() error {
	m0, s, err := pty.Open()
	if err != nil {
		return fmt.Errorf("open pty: %w", err)
	}
	m, err := pollable(m0)
	if err != nil {
		s.Close()
		return err
	}
	if err := makeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("raw mode on %s: %w", s.Name(), err)
	}
	tmp := p.path + ".new"
	os.Remove(tmp)
	if err := os.Symlink(s.Name(), tmp); err != nil {
		m.Close()
		s.Close()
		return err
	}
	if err := os.Rename(tmp, p.path); err != nil {
		m.Close()
		s.Close()
		return err
	}
	p.mu.Lock()
	p.master, p.slave = m, s
	p.mu.Unlock()
	return nil
}

// pollable returns f as a non-blocking file in Go's poller, so that read
// deadlines work and Close unblocks a pending Read (pty.Open's master went
// blocking when it asked for its Fd).
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	// F_DUPFD_CLOEXEC, not dup: a gateway started by the test must not
	// inherit the master, or closing it here (Unplug) would hang nothing up.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty master non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// makeRaw puts the line into raw mode, as a serial port is, before anyone
// writes to it; go.bug.st/serial does the same when it opens the port.
func makeRaw(fd int) error {
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}

// Path is the near end: open it with serial.Open.
func (p *Pair) Path() string { return p.path }

// Far returns the far end's current file (it changes on Replug), or nil
// while unplugged.
func (p *Pair) Far() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.master
}

// Write sends bytes from the device to the near end.
func (p *Pair) Write(b []byte) (int, error) {
	m := p.Far()
	if m == nil {
		return 0, errors.New("ptytest: unplugged")
	}
	return m.Write(b)
}

// Read reads what the near end wrote. It blocks; use ReadTimeout or
// Expect to bound it.
func (p *Pair) Read(b []byte) (int, error) {
	m := p.Far()
	if m == nil {
		return 0, errors.New("ptytest: unplugged")
	}
	return m.Read(b)
}

// ReadTimeout is Read bounded by d; it returns 0, os.ErrDeadlineExceeded
// when nothing came.
func (p *Pair) ReadTimeout(b []byte, d time.Duration) (int, error) {
	m := p.Far()
	if m == nil {
		return 0, errors.New("ptytest: unplugged")
	}
	m.SetReadDeadline(time.Now().Add(d))
	defer m.SetReadDeadline(time.Time{})
	return m.Read(b)
}

// Expect reads from the far end until want has been seen or d has passed,
// and returns everything read. The test fails when want never came.
func (p *Pair) Expect(want []byte, d time.Duration) []byte {
	p.t.Helper()
	deadline := time.Now().Add(d)
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, want) {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("ptytest: waited %v for %q, got %q", d, want, got)
			return got
		}
		n, err := p.ReadTimeout(buf, left)
		got = append(got, buf[:n]...)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) {
			// EIO while the near end is closed between reconnects: retry.
			time.Sleep(5 * time.Millisecond)
		}
	}
	return got
}

// Unplug pulls the cable: the near end's reads fail (EIO / port closed) and
// Path stops existing until Replug.
func (p *Pair) Unplug() {
	p.mu.Lock()
	m, s := p.master, p.slave
	p.master, p.slave = nil, nil
	p.mu.Unlock()
	os.Remove(p.path)
	if m != nil {
		m.Close()
	}
	if s != nil {
		s.Close()
	}
}

// Replug plugs a fresh cable in at the same Path.
func (p *Pair) Replug() {
	p.t.Helper()
	p.Unplug()
	if err := p.plug(); err != nil {
		p.t.Fatalf("ptytest: replug: %v", err)
	}
}

// Close releases both ends.
func (p *Pair) Close() { p.Unplug() }
