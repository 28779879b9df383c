package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// TestFilesGet: a picture the gateway put is downloaded byte for byte by
// `edgecentral files get`; an unknown one is a 404, a bad name a usage
// error.
func TestFilesGet(t *testing.T) {
	dir := t.TempDir()
	out, _, code := run(t, context.Background(), "gateways", "add", "gw1", "--data", dir)
	m := keyRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gateways add: %d %s", code, out)
	}
	key, _ := wire.ParseKey(m[1])
	url := serveInProcess(t, dir)
	const name = "cam-b5-roof_20261206T033110.445Z_0001.jpg"
	pic := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{0x5a}, 5000)...)
	req, _ := http.NewRequest("PUT", url+wire.FilePath(name), bytes.NewReader(pic))
	wire.SignRequest(req, "gw1", key, pic, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("put: %s", resp.Status)
	}
	file := filepath.Join(t.TempDir(), "fall.jpg")
	if out, stderr, code := run(t, context.Background(), "files", "get", "gw1", name, "--url", url, "--out", file); code != 0 || !strings.Contains(out, "5004 bytes") {
		t.Fatalf("files get: %d %s %s", code, out, stderr)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, pic) {
		t.Errorf("the downloaded picture differs (%d bytes, want %d)", len(got), len(pic))
	}
	if _, stderr, code := run(t, context.Background(), "files", "get", "gw1", "nope.jpg", "--url", url, "--out", file+"2"); code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("an unknown file: exit %d %s", code, stderr)
	}
	for _, args := range [][]string{{"files", "get", "gw1"}, {"files", "get", "gw1", "../etc/passwd"}, {"files", "get", "gw 1", name}} {
		if _, stderr, code := run(t, context.Background(), append(args, "--url", url)...); code != 64 {
			t.Errorf("%v: exit %d (%s), want 64", args, code, stderr)
		}
	}
}
