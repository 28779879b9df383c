package edge

import "errors"

// The failures a command or the service manager must tell apart: each has
// its own exit code (internal/cli.ExitCode), so that systemd and the SCM
// do not restart-loop on what a restart cannot fix (an invalid config) and
// a technician's script can say what is wrong. Wrap them with %w.
var (
	// ErrInvalidConfig: the config file is refused (file:line messages).
	ErrInvalidConfig = errors.New("invalid config")
	// ErrStoreOpen: the data directory or the store in it cannot be opened
	// (permissions, corruption, a store from an unknown layout).
	ErrStoreOpen = errors.New("cannot open store")
	// ErrDiskFull: the store's filesystem has no room left for even the
	// store's reserve.
	ErrDiskFull = errors.New("disk full")
	// ErrPortInUse: a serial port is held by another process (often the
	// running gateway itself).
	ErrPortInUse = errors.New("port in use")
)
