package update

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A child an earlier loader left behind, and that does not stop by
// itself, is waited on for the stop timeout, then killed; a pid that is no
// loader's child is left alone.
func TestWaitOrphan(t *testing.T) {
	d := Dir(t.TempDir())
	orphan := exec.Command("sh", "-c", "trap '' TERM; sleep 30")
	orphan.Env = append(os.Environ(), EnvChild+"=1")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { orphan.Wait(); close(exited) }()
	defer orphan.Process.Kill()
	waitFor(t, "the orphan's environment", func() bool { return isGatewayChild(orphan.Process.Pid) })

	out := &syncBuffer{}
	l := testLoader(d, out)
	l.StopTimeout = 300 * time.Millisecond
	l.defaults()
	l.noteChild(orphan.Process.Pid)
	start := time.Now()
	l.waitOrphan()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the orphan still runs after waitOrphan")
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("killed after %v, before the stop timeout", time.Since(start))
	}
	if _, err := os.Stat(d.path(childPIDFile)); !os.IsNotExist(err) {
		t.Errorf("child pid file kept: %v", err)
	}

	// Not a loader's child (no EDGEGW_UPDATE_CHILD): not touched.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	l.noteChild(other.Process.Pid)
	l.waitOrphan()
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(other.Process.Pid) + "/stat"); err != nil || strings.Contains(string(b), ") Z ") {
		t.Errorf("a process that is no loader's child was stopped: %v", err)
	}
}
