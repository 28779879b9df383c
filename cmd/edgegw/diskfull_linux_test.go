package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgegw/edgegw/edge/status"
)

// TestGatewayOnAFullDisk runs the real gateway with a simulated compound as
// fast as it goes on a 64 MiB filesystem, with a cap larger than the disk:
// it keeps the disk's reserve by evicting, refuses appends when another
// process (this test) fills the disk, and `edgegw status` exits 8
// (degraded); killed and started again on the full disk, it serves its
// status and takes events again once the file goes. At no point does it
// die (SIGBUS would show as death by signal).
func TestGatewayOnAFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("skipped: needs a small filesystem, and mount is not permitted here (%v); run as root", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	// Other files leave the reserve (32 MiB, half of this filesystem) and
	// 8 MiB more, so the gateway reaches the reserve soon.
	other := fillFS(t, mnt, "other", 40<<20)

	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
gateway: {id: gw-disk}
store: {dir: %q, cap: 1GiB}
status: {listen: %q}
log: {level: warn}
inputs:
  - name: compound
    driver: sim
    options: {unlimited: true, buildings: 2, units: 2, households: 4}
`, filepath.Join(mnt, "data"), addr)), 0o644)

	start := func() *exec.Cmd {
		cmd := exec.Command(edgegwBin, "run", "--config", cfgFile)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		poll(t, 20*time.Second, "the gateway's status", func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
		return cmd
	}
	// alive fails the test if the gateway exited (a signal, a panic, a
	// log.Fatal): it must stay up whatever the disk does.
	alive := func(cmd *exec.Cmd) {
		t.Helper()
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil); pid != 0 {
			t.Fatalf("the gateway died: %v", describe(ws))
		}
	}
	var last struct {
		ExitCode int             `json:"exit_code"`
		Problems []string        `json:"problems"`
		Status   status.Snapshot `json:"status"`
	}
	statusUntil := func(cmd *exec.Cmd, what string, cond func() bool) {
		t.Helper()
		defer func() {
			if t.Failed() {
				st, _ := json.Marshal(last.Status.Store)
				t.Logf("last status: exit %d, problems %q, store %s", last.ExitCode, last.Problems, st)
			}
		}()
		poll(t, 30*time.Second, what, func() bool {
			alive(cmd)
			out, _, code := edgegw(t, "status", "--url", "http://"+addr, "--json")
			if err := json.Unmarshal([]byte(out), &last); err != nil || last.ExitCode != code {
				return false
			}
			return cond()
		})
	}

	gw := start()
	// The reserve is kept by dropping what every consumer has read (the
	// rules keep up on a quiet box) or, when they lag, by evicting with gap
	// records: either way the oldest events go and the disk keeps its room.
	statusUntil(gw, "the disk reserve kept by dropping the oldest events", func() bool {
		st := last.Status.Store
		return st.DiskEvicted > 0 || st.FirstSeq > 1
	})
	unfill := fillFS(t, mnt, "fill", 0)
	statusUntil(gw, "exit 4 (degraded), disk full", func() bool { return last.ExitCode == 4 && last.Status.Store.DiskFull })
	t.Logf("full: %v", last.Problems)

	// Killed, and started again on the full disk.
	gw.Process.Signal(syscall.SIGKILL)
	gw.Wait()
	gw = start()
	statusUntil(gw, "exit 4 (degraded) after a restart on the full disk", func() bool { return last.ExitCode == 4 && last.Status.Store.DiskFull })
	t.Logf("restarted on a full disk: read-only %v, %q", last.Status.Store.ReadOnly, last.Problems[len(last.Problems)-1])
	before := last.Status.Store.Appended
	unfill()
	statusUntil(gw, "appends again once the disk has room", func() bool {
		return !last.Status.Store.DiskFull && last.Status.Store.Appended > before
	})
	alive(gw)
	gw.Process.Signal(syscall.SIGTERM)
	if err := gw.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	other()
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// fillFS writes a file on dir's filesystem until at most leave bytes are
// free, and returns a function that removes it.
func fillFS(t *testing.T, dir, name string, leave int64) func() {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		free := int64(st.Bavail) * int64(st.Bsize)
		if free <= leave {
			break
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), free-leave)]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}
