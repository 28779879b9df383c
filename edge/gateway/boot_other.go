//go:build !linux

package gateway

import "github.com/edgegw/edgegw/edge"

// Other systems give no portable boot id: the anchor is the process's
// start (a random id, and the time since on the monotonic clock).
func platformBoot(c edge.Clock) edge.BootSource { return newProcessBoot(c) }
