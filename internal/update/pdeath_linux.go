package update

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel send the child SIGTERM when the loader
// dies (SIGKILL included), so an orphan never holds the store's lock.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
