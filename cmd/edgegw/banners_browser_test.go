//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestBrowserBanners runs a real gateway with a real central and a serial
// device on a pty, and a headless Chromium on its status page: stopping
// the central and unplugging the device each raise a banner saying since
// when and what to check, in English and in Chinese; starting the central
// again and plugging the device back make them go.
func TestBrowserBanners(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway, a central and a browser")
	}
	browserToolsCmd(t)
	t.Setenv(serialport.LockDirEnv, t.TempDir())
	dir := t.TempDir()
	central := filepath.Join(dir, "edgecentral")
	if out, err := exec.Command("go", "build", "-o", central, "../edgecentral").CombinedOutput(); err != nil {
		t.Fatalf("build edgecentral: %v\n%s", err, out)
	}
	cdata := filepath.Join(dir, "central")
	out, err := exec.Command(central, "gateways", "add", "gw-banners", "--data", cdata).Output()
	if err != nil {
		t.Fatalf("gateways add: %v", err)
	}
	key := regexp.MustCompile(`[0-9a-f]{64}`).FindString(string(out))
	if key == "" {
		t.Fatalf("no key in %q", out)
	}
	caddr := freeAddr(t)
	startCentral := func() *exec.Cmd {
		c := exec.Command(central, "serve", "--listen", caddr, "--data", cdata, "--log-level", "warn")
		c.Stderr = io.Discard
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	cent := startCentral()

	dev := ptytest.New(t)
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "gw.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
gateway: {id: gw-banners}
store: {dir: %q, cap: 64MiB}
status: {listen: %q}
uplink: {url: "http://%s", key: %q, poll_interval: 2s, heartbeat_interval: 2s, retry_max: 1, retry_wait_min: 100ms, retry_wait_max: 1s}
inputs:
  - name: camera-box
    driver: serial
    options:
      port: %q
      devices: [{id: cam1}]
      decode:
        regexp:
          pattern: '^ALARM,(?P<s>\w+)'
          points: [{group: s, point: alarm, kind: state}]
`, filepath.Join(dir, "data"), addr, caddr, key, dev.Path())), 0o644)
	gw := exec.Command(edgegwBin, "run", "--config", cfg)
	stderr, _ := gw.StderrPipe()
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })
	logs := watchLog(stderr)
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	}()
	logs.waitFor(t, 30*time.Second, "status server listening", "gateway running")
	dev.Write([]byte("ALARM,CLEAR\r\n"))

	shots := filepath.Join(dir, "shots")
	if a := os.Getenv("ARTIFACTS"); a != "" {
		shots = filepath.Join(a, "banners")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "testdata/banners.mjs", "http://"+addr+"/", shots)
	stdin, _ := node.StdinPipe()
	stdout, _ := node.StdoutPipe()
	var nodeErr lockedBuffer
	node.Stderr = &nodeErr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); node.Wait() }()
	answers := bufio.NewScanner(stdout)
	answers.Buffer(nil, 1<<20)
	type banner struct {
		Check, Level, Text, Small string
		Subjects                  []string
	}
	type answer struct {
		OK      bool
		Error   string
		Banners []banner
		Found   []banner
		Title   string
	}
	next := func() answer {
		t.Helper()
		if !answers.Scan() {
			t.Fatalf("the browser script ended: %s", nodeErr.String())
		}
		var a answer
		if err := json.Unmarshal(answers.Bytes(), &a); err != nil {
			t.Fatalf("browser answer %q: %v", answers.Text(), err)
		}
		if !a.OK {
			t.Fatalf("browser: %s", a.Error)
		}
		return a
	}
	do := func(cmd string) answer {
		t.Helper()
		fmt.Fprintln(stdin, cmd)
		return next()
	}
	next() // page loaded
	do("gone central 30000")
	do("gone device_offline 30000")
	do("shot banners-healthy")

	cent.Process.Signal(syscall.SIGKILL)
	cent.Wait()
	a := do("banner central 60000")
	if f := a.Found[0]; !strings.Contains(f.Text, "central unreachable") || !strings.Contains(f.Small, "since") || !strings.Contains(f.Small, "What to check:") {
		t.Errorf("central banner %+v: want what, since when and what to check", f)
	}
	dev.Unplug()
	a = do("banner device_offline cam1 60000")
	if f := a.Found[0]; !strings.Contains(f.Text, "cam1") || !strings.Contains(f.Small, "wiring") {
		t.Errorf("device banner %+v", f)
	}
	do("shot banners-faults")
	a = do("lang zh-CN")
	var zhCentral bool
	for _, b := range a.Banners {
		if b.Check == "central" && strings.Contains(b.Text, "中心平台") && strings.Contains(b.Small, "请检查") {
			zhCentral = true
		}
	}
	if !zhCentral || !strings.Contains(a.Title, "设备") {
		t.Errorf("in Chinese: banners %+v, devices title %q", a.Banners, a.Title)
	}
	do("shot banners-faults-zh")
	do("lang en")

	startCentral()
	dev.Replug()
	dev.Write([]byte("ALARM,CLEAR\r\n"))
	do("gone central 90000")
	do("gone device_offline 60000")
	do("shot banners-mended")
	fmt.Fprintln(stdin, "quit")
}

// browserToolsCmd: node, chromium and playwright-core (scripts/setup.sh
// installs them); missing tools fail under CI=true and skip otherwise.
func browserToolsCmd(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		missing = append(missing, "chromium")
	}
	if _, err := os.Stat("../../scripts/browser/node_modules/playwright-core"); err != nil {
		missing = append(missing, "playwright-core (cd scripts/browser && npm install)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "browser test needs: " + strings.Join(missing, ", ") + " (scripts/setup.sh installs them)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
