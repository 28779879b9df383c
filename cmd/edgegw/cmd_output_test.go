//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestPortsOfARunningGateway runs the real gateway on two ptys (a camera
// line in, an LED sign out) and, beside it, the commands a technician
// would: `output test` goes through the gateway and the sign gets the
// bytes; `probe serial`, `probe modbus` and a direct `output test` (a
// config without a status address) are refused within 5 s, naming the
// gateway; and the gateway's camera line never noticed.
func TestPortsOfARunningGateway(t *testing.T) {
	locks := t.TempDir()
	t.Setenv(serialport.LockDirEnv, locks) // inherited by every process below
	camera, sign := ptytest.New(t), ptytest.New(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	const tmpl = `
gateway: {id: gw-ports}
store: {dir: %q, cap: 64MiB}
status: {listen: %q}
inputs:
  - name: cameras
    driver: serial
    options:
      port: %q
      devices: [{id: cam1}]
      decode:
        regexp:
          pattern: '^ALARM,(?P<s>\w+)'
          points: [{group: s, point: alarm, kind: state}]
outputs:
  - name: sign
    driver: serial
    options: {port: %q, send: "{{.Text}}\r\n"}
`
	cfgFile := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(tmpl, filepath.Join(dir, "data"), addr, camera.Path(), sign.Path())), 0o644)
	offFile := filepath.Join(dir, "off.yaml") // the same box, but no status address to go through
	os.WriteFile(offFile, []byte(fmt.Sprintf(tmpl, filepath.Join(dir, "data"), "off", camera.Path(), sign.Path())), 0o644)

	gw := exec.Command(edgegwBin, "run", "--config", cfgFile)
	var gwErr lockedBuffer
	gw.Stderr = &gwErr
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		gw.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { gw.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			gw.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", gwErr.String())
		}
	}()
	var o serialport.Opener
	poll(t, 20*time.Second, "the gateway to hold both ports", func() bool {
		a, _, okA := o.Holder(camera.Path())
		b, _, okB := o.Holder(sign.Path())
		return okA && okB && a == gw.Process.Pid && b == gw.Process.Pid
	})
	poll(t, 20*time.Second, "the status API", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	camera.Write([]byte("ALARM,FALL\n"))
	cam := func() status.Device {
		resp, err := http.Get("http://" + addr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s status.Snapshot
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		for _, d := range s.Devices {
			if d.ID == "cam1" {
				return d
			}
		}
		t.Fatalf("no cam1 in %+v", s.Devices)
		return status.Device{}
	}
	poll(t, 10*time.Second, "the first frame", func() bool { return cam().LastText == "FALL" })

	// Through the gateway.
	out, e, code := edgegw(t, "output", "test", "sign", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "through the running gateway at http://"+addr) {
		t.Fatalf("output test: exit %d\n%s%s", code, out, e)
	}
	sign.Expect([]byte("edgegw test\r\n"), 5*time.Second)

	// Refused, naming the gateway, within 5 s.
	want := fmt.Sprintf("is in use by edgegw (pid %d); stop the service or use the status page's Test button", gw.Process.Pid)
	for _, args := range [][]string{
		{"probe", "serial", "--port", camera.Path(), "--duration", "20s"},
		{"probe", "modbus", "--port", camera.Path(), "--timeout", "1s"},
		{"probe", "serial", "--port", sign.Path(), "--duration", "20s"},
		{"output", "test", "sign", "--config", offFile},
	} {
		start := time.Now()
		out, e, code := edgegw(t, args...)
		took := time.Since(start)
		if code == 0 || !strings.Contains(e, want) {
			t.Errorf("%v: exit %d after %v\nstdout: %s\nstderr: %s\nwant a refusal saying %q", args, code, took, out, e, want)
		}
		if took > 5*time.Second {
			t.Errorf("%v: refused after %v, want within 5s", args, took)
		}
		// App.Main maps errors to exit codes with cli.ExitCode once wired
		// (another branch); until then a refusal exits 1.
		if code != cli.ExitPortInUse && code != cli.ExitFailure {
			t.Errorf("%v: exit %d, want %d", args, code, cli.ExitPortInUse)
		}
	}
	// In Chinese too: the refusal, and the way the test went.
	_, e, code = edgegwLang(t, "zh_CN.UTF-8", "output", "test", "sign", "--config", offFile)
	if want := fmt.Sprintf("正被 edgegw（pid %d）占用；请停止服务，或使用状态页上的“测试”按钮", gw.Process.Pid); code != cli.ExitPortInUse || !strings.Contains(e, want) || !strings.Contains(e, "经由 本命令") {
		t.Errorf("output test in zh-CN: exit %d\n%s\nwant %d and %q", code, e, cli.ExitPortInUse, want)
	}

	// The gateway's devices saw nothing of it.
	camera.Write([]byte("ALARM,SMOKE\n"))
	poll(t, 10*time.Second, "the frame after the refusals", func() bool { return cam().LastText == "SMOKE" })
	if d := cam(); !d.Online || d.Stats.Frames != 2 || d.Stats.Errors != 0 || d.Stats.Reconnects != 0 {
		t.Errorf("camera after the refused probes: %+v", d)
	}
	if strings.Contains(gwErr.String(), "level=WARN") || strings.Contains(gwErr.String(), "level=ERROR") {
		t.Errorf("the gateway logged trouble:\n%s", gwErr.String())
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
