// Package serialport is the one way the gateway opens a serial port: for
// this process alone, with the OS's exclusive mode (TIOCEXCL on Linux and
// Unix; Windows opens COM ports exclusively by itself) and, on Linux and
// Unix, a UUCP lock file (/run/lock/LCK..ttyUSB0 holding the pid) that
// minicom, picocom and a second edgegw all honour, root included. A port
// held by another process is refused with an *InUseError (it wraps
// edge.ErrPortInUse) that names the holder.
package serialport

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/edgegw/edgegw/edge"
	"go.bug.st/serial"
)

// LockDirEnv names the environment variable that overrides the lock
// directory (tests, and systems whose lock directory is elsewhere).
const LockDirEnv = "EDGEGW_LOCK_DIR"

// DefaultLockDirs are tried in order; the first that exists is used.
var DefaultLockDirs = []string{"/run/lock", "/var/lock"}

// Opener opens serial ports. The zero value is ready to use.
type Opener struct {
	// Log gets a debug line when the lock file cannot be used (a lock
	// directory this user may not write: exclusive mode alone then) and a
	// warning when a stale lock file is taken over. Nil discards.
	Log *slog.Logger
	// Clock dates a lock file that cannot be parsed (one being written is
	// left alone for a few seconds). Default: edge.SystemClock.
	Clock edge.Clock
	// LockDir is where lock files go. Default: $EDGEGW_LOCK_DIR, else the
	// first of DefaultLockDirs that exists.
	LockDir string
}

// Open opens path with mode for this process alone; see Opener.Open.
func Open(path string, mode *serial.Mode) (serial.Port, error) {
	return (&Opener{}).Open(path, mode)
}

// Open opens path with mode for this process alone:
//
//  1. a second open of the same device in this process is refused;
//  2. the lock file is taken atomically (a stale one, whose process is
//     gone, is taken over); a live holder's is refused;
//  3. a device another process put in exclusive mode is refused, even for
//     root, which the kernel would let through;
//  4. the port is opened and put in exclusive mode.
//
// Closing the returned port removes the lock file. A refusal is an
// *InUseError; other errors are go.bug.st/serial's.
func (o *Opener) Open(path string, mode *serial.Mode) (serial.Port, error) {
	if mode == nil {
		mode = &serial.Mode{}
	}
	dev := devicePath(path)
	if !claim(dev) {
		return nil, &InUseError{Port: path, PID: os.Getpid(), Name: procName(os.Getpid()), Self: true}
	}
	ok := false
	defer func() {
		if !ok {
			unclaim(dev)
		}
	}()
	lk, err := o.lock(path, dev)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			lk.release()
		}
	}()
	pre, err := preOpen(path, dev)
	if err != nil {
		return nil, err
	}
	p, err := serial.Open(path, mode)
	if err != nil {
		pre.close()
		var pe *serial.PortError
		if errors.As(err, &pe) && pe.Code() == serial.PortBusy {
			return nil, busy(path, dev)
		}
		return nil, err
	}
	if err := pre.exclusive(); err != nil {
		o.log().Debug("serial port exclusive mode not set", "port", path, "err", err)
	}
	ok = true
	return &lockedPort{Port: p, release: func() { lk.release(); unclaim(dev) }}, nil
}

func (o *Opener) log() *slog.Logger {
	if o.Log == nil {
		return edge.DiscardLogger()
	}
	return o.Log
}

func (o *Opener) clock() edge.Clock {
	if o.Clock == nil {
		return edge.SystemClock{}
	}
	return o.Clock
}

// lockDir returns the directory for lock files, "" when there is none.
func (o *Opener) lockDir() string {
	if o.LockDir != "" {
		return o.LockDir
	}
	if d := os.Getenv(LockDirEnv); d != "" {
		return d
	}
	for _, d := range DefaultLockDirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return ""
}

// lockedPort releases the lock when the port is closed. Close may be
// called several times and from several goroutines (a driver closes the
// port from a context.AfterFunc to end a blocked Read, and again when its
// session ends).
type lockedPort struct {
	serial.Port
	once    sync.Once
	err     error
	release func()
}

func (p *lockedPort) Close() error {
	p.once.Do(func() {
		p.err = p.Port.Close()
		p.release()
	})
	return p.err
}

// InUseError says a port is held by another process (or already open in
// this one). It wraps edge.ErrPortInUse.
type InUseError struct {
	Port string // the port as the caller named it
	PID  int    // the holder's pid; 0 when unknown
	Name string // the holder's command name; "" when unknown
	Self bool   // held by this very process
	// Detail says how the holder was found when that is not the lock file
	// ("exclusive mode set by another process").
	Detail string
}

func (e *InUseError) Error() string {
	format, args := e.MessageFormat()
	return fmt.Sprintf(format, args...)
}

// MessageFormat gives the error as its English parts (edge.Messages), so
// that the CLI prints it in the installer's language (edge/i18n).
func (e *InUseError) MessageFormat() (string, []any) {
	if e.Self {
		return "%v", []any{edge.Msgf("port %s is already open in this process (pid %d): two inputs or outputs of the config name the same port", e.Port, e.PID)}
	}
	var parts []any
	switch {
	case e.PID > 0 && e.Name != "":
		parts = append(parts, edge.Msgf("port %s is in use by %s (pid %d)", e.Port, e.Name, e.PID))
	case e.PID > 0:
		parts = append(parts, edge.Msgf("port %s is in use by another process (pid %d)", e.Port, e.PID))
	default:
		parts = append(parts, edge.Msgf("port %s is in use by another program", e.Port))
	}
	if e.Detail != "" {
		parts = append(parts, edge.Msgf(" (%s)", e.Detail))
	}
	switch {
	case strings.HasPrefix(e.Name, "edgegw"):
		parts = append(parts, edge.Msgf("; stop the service or use the status page's Test button"))
	case e.Name != "":
		parts = append(parts, edge.Msgf("; stop that program first"))
	default:
		parts = append(parts, edge.Msgf("; stop it first (if the edgegw service holds the port: stop the service or use the status page's Test button)"))
	}
	return strings.Repeat("%v", len(parts)), parts
}

func (e *InUseError) Unwrap() error { return edge.ErrPortInUse }

// The devices this process has open, so that a second open of one is
// refused before it touches the device (a second open would reset the
// line settings of the first).
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

func claim(dev string) bool {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[dev] {
		return false
	}
	held[dev] = true
	return true
}

func unclaim(dev string) {
	heldMu.Lock()
	delete(held, dev)
	heldMu.Unlock()
}

func claimed(dev string) bool {
	heldMu.Lock()
	defer heldMu.Unlock()
	return held[dev]
}
