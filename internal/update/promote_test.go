package update

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The rename-the-running-exe method, on a binary that runs while it is
// replaced: the old one is kept as .old, the new one takes its place, and
// a second promotion with the .old still there uses another name where the
// OS keeps it (here it can be removed).
func TestPromoteInstalledWhileRunning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the running test binary's own folder is used on unix only")
	}
	dir := t.TempDir()
	installed := filepath.Join(dir, "edgegw")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installed, self, 0o755); err != nil {
		t.Fatal(err)
	}
	// The installed binary runs (the test binary, waiting on its stdin).
	cmd := exec.Command(installed, "-test.run=^$")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()

	src := filepath.Join(dir, "new")
	newer := []byte("#!/bin/sh\necho new\n")
	if err := os.WriteFile(src, newer, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := promoteInstalled(installed, src)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(installed); !bytes.Equal(got, newer) {
		t.Errorf("installed after the promotion: %q", got)
	}
	if got, _ := os.ReadFile(old); !bytes.Equal(got, self) || old != installed+".old" {
		t.Errorf("old binary at %s: %d bytes, want the original %d", old, len(got), len(self))
	}
	if st, err := os.Stat(installed); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("installed not executable: %v %v", st, err)
	}
	// A second promotion replaces the .old.
	orig := filepath.Join(dir, "orig")
	if err := os.WriteFile(orig, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := promoteInstalled(installed, orig); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(installed); !bytes.Equal(got, self) {
		t.Error("the second promotion did not put the original back")
	}
	// A missing source changes nothing.
	if _, err := promoteInstalled(installed, filepath.Join(dir, "missing")); err == nil {
		t.Error("promotion from a missing file succeeded")
	}
	if got, _ := os.ReadFile(installed); !bytes.Equal(got, self) {
		t.Error("a failed promotion changed the installed binary")
	}
}
