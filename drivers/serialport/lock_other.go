//go:build !unix

package serialport

import "strings"

// On Windows the OS opens a COM port for one process only, and says
// ERROR_ACCESS_DENIED (go.bug.st/serial's PortBusy) to the next: no lock
// file is needed, and there is none to read the holder from.

func devicePath(path string) string { return strings.ToUpper(path) }

type lockFile struct{}

func (*lockFile) release() {}

func (o *Opener) lock(path, dev string) (*lockFile, error) { return nil, nil }

type preOpened struct{}

func preOpen(path, dev string) (*preOpened, error) { return nil, nil }

func (*preOpened) exclusive() error { return nil }

func (*preOpened) close() {}

func busy(path, dev string) error { return &InUseError{Port: path} }

func procName(pid int) string { return "" }

// Holder: Windows keeps no record of who holds a port that we can read.
func (o *Opener) Holder(path string) (pid int, name string, ok bool) { return 0, "", false }
