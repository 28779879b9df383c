package update

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// isGatewayChild: pid runs and is a loader's child (its environment says
// so), not a process that got the pid since.
func isGatewayChild(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if string(kv) == EnvChild+"=1" {
			return true
		}
	}
	return false
}

func killPID(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
