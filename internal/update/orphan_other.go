//go:build !linux

package update

// isGatewayChild: elsewhere an orphan cannot be told from a process that
// got its pid since; Windows ends the children with the loader (a
// kill-on-close job object), so there is nothing to wait for.
func isGatewayChild(int) bool { return false }

func killPID(int) {}
