package main

import (
	"archive/zip"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
)

const diagConfig = `gateway:
  id: gw-1
store:
  dir: %DIR%
uplink:
  url: http://127.0.0.1:9/central
  key: uplink-secret-123
status:
  listen: %LISTEN%
  password_hash: "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
outputs:
  - name: sms
    driver: gsm
    options: {port: /dev/ttyUSB3, pin: "1234", api_token: tok-999, to: ["+8613800000001"]}
rules:
  - name: door
    when: event.text == "open"
    actions:
      - {sms: ["+8613800000002"], text: "door open"}
`

func readZip(t *testing.T, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	return files
}

func TestDiagRunningGateway(t *testing.T) {
	_, url := statusServer(t, config.Status{Listen: "127.0.0.1:0"})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte(strings.NewReplacer("%DIR%", dir, "%LISTEN%", "127.0.0.1:8780").Replace(diagConfig)), 0o644)
	out := filepath.Join(dir, "bundle.zip")
	code, stdout, stderr := runCLI(t, "", "diag", "--config", cfg, "--url", url, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	files := readZip(t, out)
	for _, name := range []string{"MANIFEST.txt", "version.json", "config.yaml", "status.json", "logs.txt", "metrics.txt", "store.txt"} {
		if _, ok := files[name]; !ok {
			t.Errorf("bundle lacks %s (has %v)", name, keys(files))
		}
	}
	c := files["config.yaml"]
	for _, secret := range []string{"uplink-secret-123", "pbkdf2-sha256", "1234", "tok-999", "+8613800000001", "+8613800000002"} {
		if strings.Contains(c, secret) {
			t.Errorf("config.yaml leaks %q:\n%s", secret, c)
		}
	}
	for _, kept := range []string{"gw-1", "/dev/ttyUSB3", "http://127.0.0.1:9/central", "<redacted>"} {
		if !strings.Contains(c, kept) {
			t.Errorf("config.yaml lost %q:\n%s", kept, c)
		}
	}
	if !strings.Contains(files["status.json"], `"gateway_id": "gw-test-1"`) || !strings.Contains(files["metrics.txt"], "edgegw_devices_online 3") {
		t.Errorf("status/metrics content:\n%s", files["status.json"][:200])
	}
	if strings.Contains(files["MANIFEST.txt"], "missing:") {
		t.Errorf("nothing should be missing:\n%s", files["MANIFEST.txt"])
	}
}

func TestDiagGatewayNotRunning(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "000001.vlog"), make([]byte, 1234), 0o644)
	cfg := filepath.Join(dir, "edgegw.yaml")
	os.WriteFile(cfg, []byte(strings.NewReplacer("%DIR%", dir, "%LISTEN%", addr).Replace(diagConfig)), 0o644)
	out := filepath.Join(dir, "bundle.zip")
	code, stdout, stderr := runCLI(t, "", "diag", "--config", cfg, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "missing: status.json, logs.txt, metrics.txt: gateway not running") {
		t.Errorf("stdout does not say what is missing:\n%s", stdout)
	}
	files := readZip(t, out)
	if _, ok := files["status.json"]; ok {
		t.Error("status.json from nowhere")
	}
	if !strings.Contains(files["store.txt"], "1234") || !strings.Contains(files["store.txt"], "000001.vlog") {
		t.Errorf("store.txt:\n%s", files["store.txt"])
	}
	if !strings.Contains(files["MANIFEST.txt"], "gateway not running") || !strings.Contains(files["config.yaml"], "<redacted>") {
		t.Errorf("manifest:\n%s", files["MANIFEST.txt"])
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
