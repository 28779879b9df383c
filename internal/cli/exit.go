package cli

import (
	"errors"

	"github.com/edgegw/edgegw/edge"
)

// The exit codes of edgegw and edgecentral, shared by every command (docs:
// docs/install.md, "Exit codes"). They follow sysexits(3) so that 2, which
// the Go runtime uses for a crash (an unrecovered panic), never means
// anything else.
const (
	ExitOK        = 0  // success
	ExitFailure   = 1  // a runtime failure not listed below
	ExitCrash     = 2  // the Go runtime's own code for a panic: a bug, with a stack trace on stderr
	ExitUsage     = 64 // EX_USAGE: bad flags or arguments
	ExitDataErr   = 65 // EX_DATAERR: an input file other than the config is invalid (rules test --events)
	ExitPortInUse = 69 // EX_UNAVAILABLE: a serial port is held by another process
	ExitStoreOpen = 73 // EX_CANTCREAT: the store cannot be opened
	ExitDiskFull  = 75 // EX_TEMPFAIL: the disk is full; retry once space is freed
	ExitBadConfig = 78 // EX_CONFIG: the config is invalid; a restart cannot fix it
	ExitRestart   = 79 // a new version is staged: the self-update loader restarts into it (internal/update)
)

// ExitCode maps an error to its exit code: an *ExitError's own code, else
// the code of the first sentinel it wraps, else ExitFailure.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, edge.ErrInvalidConfig):
		return ExitBadConfig
	case errors.Is(err, edge.ErrDiskFull):
		return ExitDiskFull
	case errors.Is(err, edge.ErrStoreOpen):
		return ExitStoreOpen
	case errors.Is(err, edge.ErrPortInUse):
		return ExitPortInUse
	}
	return ExitFailure
}
