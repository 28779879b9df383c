//go:build !linux

package rulebench

import "time"

// threadCPU is not available here: callers use wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
