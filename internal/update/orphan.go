package update

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// childPIDFile holds the pid of the loader's running child. A loader that
// was killed leaves its child behind for a moment (the parent-death signal
// makes it drain, which takes up to the stop timeout): the next loader
// waits for it before it starts another gateway on the same store, whose
// lock the orphan still holds. Without that wait a trial would fail on the
// lock and count as a failed attempt of a good version.
const childPIDFile = "child.pid"

func (l *Loader) noteChild(pid int) {
	if err := writeFileAtomic(l.Dir.path(childPIDFile), []byte(strconv.Itoa(pid)+"\n"), 0o640); err != nil {
		l.Logger.Warn("cannot note the child's pid", "err", err)
	}
}

func (l *Loader) forgetChild() { _ = removeFile(l.Dir.path(childPIDFile)) }

// waitOrphan waits, at most the stop timeout and then a kill, for the
// child an earlier loader left running.
func (l *Loader) waitOrphan() {
	b, err := edge.ReadFileLimit(l.Dir.path(childPIDFile), maxRecord)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || pid == os.Getpid() || !isGatewayChild(pid) {
		l.forgetChild()
		return
	}
	l.Logger.Warn("a gateway started by an earlier loader still runs; waiting for it to stop", "pid", pid)
	deadline := l.Clock.Now().Add(l.StopTimeout)
	for isGatewayChild(pid) {
		if !l.Clock.Now().Before(deadline) {
			l.Logger.Error("the earlier gateway did not stop; killing it", "pid", pid)
			killPID(pid)
			break
		}
		<-l.Clock.After(100 * time.Millisecond)
	}
	l.forgetChild()
}
