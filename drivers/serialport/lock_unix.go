//go:build unix

package serialport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// unparsedGrace is how long a lock file that holds no readable pid is
// left alone: another program may be between creating and writing it.
const unparsedGrace = 5 * time.Second

// devicePath resolves symlinks (/dev/serial/by-id/..., a test's pty link),
// so that every name of one device shares one lock.
func devicePath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Clean(p)
	}
	return filepath.Clean(path)
}

// lockFile is a lock file this process created.
type lockFile struct {
	path string
	pid  int
}

// release removes the lock file if it still holds this process's pid.
func (l *lockFile) release() {
	if l == nil {
		return
	}
	defer setOwnLock(l.path, false)
	b, err := readLock(l.path)
	if err != nil {
		return
	}
	if pid, err := parseLockPID(b); err == nil && pid == l.pid {
		os.Remove(l.path)
	}
}

var tmpSeq atomic.Uint64

// lock takes the lock file of dev. It returns nil, nil when there is no
// usable lock directory (logged at debug level: exclusive mode alone then
// guards the port), and an *InUseError when a live process holds it.
func (o *Opener) lock(path, dev string) (*lockFile, error) {
	dir := o.lockDir()
	if dir == "" {
		o.log().Debug("serial port lock file skipped: no lock directory", "port", path, "tried", DefaultLockDirs)
		return nil, nil
	}
	lf := filepath.Join(dir, LockName(dev))
	pid := os.Getpid()
	for range 4 {
		err := createLock(dir, lf, pid)
		if err == nil {
			setOwnLock(lf, true)
			return &lockFile{path: lf, pid: pid}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			o.log().Debug("serial port lock file skipped: cannot create it", "port", path, "lock", lf, "err", err)
			return nil, nil
		}
		raw, mod, err := readLockStat(lf)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released between our two steps
		}
		if err != nil {
			// There, but unreadable to us: someone holds it.
			return nil, &InUseError{Port: path, Detail: fmt.Sprintf("lock file %s: %v", lf, err)}
		}
		holder, perr := parseLockPID(raw)
		switch {
		case perr != nil:
			if age := o.clock().Now().Sub(mod); age < unparsedGrace && age > -unparsedGrace {
				return nil, &InUseError{Port: path, Detail: "lock file " + lf + " is being written"}
			}
			o.log().Warn("serial port lock file unreadable; taking it over", "port", path, "lock", lf, "err", perr)
		case holder == pid && ownLock(lf):
			// Another device of this process with the same base name.
			return nil, &InUseError{Port: path, PID: pid, Name: procName(pid), Detail: "lock file " + lf + " is held for another device of the same name"}
		case holder == pid:
			// Our pid, but not ours: a process before this one had the
			// same pid (a container restarted) and died holding it.
			o.log().Warn("serial port lock file left by an earlier process with this pid; taking it over", "port", path, "lock", lf)
		case alive(holder):
			return nil, &InUseError{Port: path, PID: holder, Name: procName(holder)}
		default:
			o.log().Warn("serial port lock file stale (its process is gone); taking it over", "port", path, "lock", lf, "pid", holder)
		}
		if err := removeStale(lf, raw); err != nil {
			o.log().Debug("serial port lock file skipped: cannot remove the stale one", "port", path, "lock", lf, "err", err)
			return nil, nil
		}
	}
	return nil, &InUseError{Port: path, Detail: "lock file " + lf + " keeps changing"}
}

// The lock files this process holds.
var (
	ownMu    sync.Mutex
	ownLocks = map[string]bool{}
)

func ownLock(lf string) bool {
	ownMu.Lock()
	defer ownMu.Unlock()
	return ownLocks[lf]
}

func setOwnLock(lf string, on bool) {
	ownMu.Lock()
	defer ownMu.Unlock()
	if on {
		ownLocks[lf] = true
	} else {
		delete(ownLocks, lf)
	}
}

// createLock makes the lock file appear atomically with its content: a
// temporary file is written and hard-linked to the lock's name, which
// fails when the name exists (the lockdev way). Where hard links are not
// supported, O_EXCL creation is the fallback.
func createLock(dir, lf string, pid int) error {
	tmp := filepath.Join(dir, fmt.Sprintf("LTMP.%d.%d", pid, tmpSeq.Add(1)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, werr := f.Write(formatLock(pid))
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	os.Chmod(tmp, 0o644) // readable by all whatever the umask: others read who holds the port
	err = os.Link(tmp, lf)
	if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)) {
		return err
	}
	f, err = os.OpenFile(lf, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, werr = f.Write(formatLock(pid))
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(lf)
	}
	return werr
}

// readLock reads at most maxLockFile+1 bytes of a lock file, without
// following a symlink or blocking on a FIFO planted in its place.
func readLock(path string) ([]byte, error) {
	b, _, err := readLockStat(path)
	return b, err
}

func readLockStat(path string) ([]byte, time.Time, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, time.Time{}, fmt.Errorf("not a regular file")
		}
		return nil, time.Time{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi.ModTime(), fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLockFile+1))
	return b, fi.ModTime(), err
}

// removeStale removes a lock file judged stale from content raw, and only
// that one: it is renamed aside first (atomic), and if what was moved is
// not what was judged (a new holder came in between), it is put back.
func removeStale(lf string, raw []byte) error {
	aside := fmt.Sprintf("%s.stale.%d.%d", lf, os.Getpid(), tmpSeq.Add(1))
	if err := os.Rename(lf, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer os.Remove(aside)
	if got, err := readLock(aside); err == nil && !bytes.Equal(got, raw) {
		os.Link(aside, lf) // fails if yet another holder came: that one stands
	}
	return nil
}

// alive reports whether process pid exists (EPERM: it does, as another user).
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// procName is the command name of pid from /proc (Linux), "" elsewhere.
func procName(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64))
	return cleanName(b)
}

// Holder says who holds the lock file of a port: its pid and command name,
// and false when no live process does (no lock file, a stale one, or no
// lock directory).
func (o *Opener) Holder(path string) (pid int, name string, ok bool) {
	dir := o.lockDir()
	if dir == "" {
		return 0, "", false
	}
	raw, err := readLock(filepath.Join(dir, LockName(devicePath(path))))
	if err != nil {
		return 0, "", false
	}
	pid, err = parseLockPID(raw)
	if err != nil || !alive(pid) {
		return 0, "", false
	}
	return pid, procName(pid), true
}

// preOpened is a descriptor of the device opened before go.bug.st/serial
// opens it, to see and set exclusive mode (the library does not expose its
// own descriptor). It is closed once the port is open: exclusive mode
// belongs to the terminal, not to one descriptor, and closing a second
// descriptor does not hang up the line.
type preOpened struct{ fd int }

// preOpen refuses a device that another process put in exclusive mode:
// open(2) says EBUSY to everyone but root, and TIOCGEXCL tells root.
func preOpen(path, dev string) (*preOpened, error) {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return nil, busy(path, dev)
	}
	if err != nil {
		return nil, nil // go.bug.st/serial's open reports it in its words
	}
	if excl, err := getExclusive(fd); err == nil && excl {
		unix.Close(fd)
		return nil, busy(path, dev)
	}
	return &preOpened{fd: fd}, nil
}

// exclusive sets exclusive mode (go.bug.st/serial sets it too, but
// ignores its error) and closes the descriptor.
func (p *preOpened) exclusive() error {
	if p == nil {
		return nil
	}
	defer p.close()
	return unix.IoctlSetInt(p.fd, unix.TIOCEXCL, 0)
}

func (p *preOpened) close() {
	if p != nil && p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}

// busy is the error for a device in exclusive mode, naming its holder when
// /proc shows who has it open.
func busy(path, dev string) error {
	e := &InUseError{Port: path, Detail: "the port is in exclusive mode"}
	if pid := openedBy(dev); pid > 0 {
		e.PID, e.Name = pid, procName(pid)
	}
	return e
}
