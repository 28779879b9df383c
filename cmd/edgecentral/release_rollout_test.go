package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// gwRequest sends a signed request as gateway gw and returns the verified
// answer.
func gwRequest(t *testing.T, method, url, path, gw string, key wire.Key, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	wire.SignRequest(req, gw, key, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadVerifiedResponse(resp, key, 0)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, b
}

func releaseHeartbeat(t *testing.T, url, gw string, key wire.Key, st *wire.UpdateStatus) *wire.ReleaseOffer {
	t.Helper()
	body, _ := json.Marshal(wire.Heartbeat{Version: st.Running, Update: st})
	resp, b := gwRequest(t, "POST", url, wire.PathHeartbeat, gw, key, body, nil)
	var hr wire.HeartbeatResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &hr) != nil {
		t.Fatalf("heartbeat: %d %s", resp.StatusCode, b)
	}
	return hr.Release
}

// writeRelease writes an artifact of size bytes and its signed manifest
// into dir and returns their paths and the artifact.
func writeRelease(t *testing.T, dir, version, goos, goarch, goarm string, size int) (artifact, manifest string, art []byte) {
	t.Helper()
	art = bytes.Repeat([]byte(version+"-"+goarch+"|"), size/len(version+"-"+goarch+"|")+1)[:size]
	priv, _, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(art)
	man, err := wire.SignManifest(wire.Manifest{Version: version, OS: goos, Arch: goarch, GOARM: goarm, Size: int64(size),
		SHA256: hex.EncodeToString(sum[:]), StoreSchema: 1, MinStoreSchema: 1, Created: time.Now().UTC()}, priv)
	if err != nil {
		t.Fatal(err)
	}
	artifact = filepath.Join(dir, "edgegw-"+version+"-"+goarch)
	manifest = artifact + ".manifest"
	os.WriteFile(artifact, art, 0o644)
	os.WriteFile(manifest, man, 0o644)
	return artifact, manifest, art
}

// The release commands against a running serve, on both stores: push,
// list, rollout to a place with a canary, the offer at heartbeat and the
// ranged download, widening, a rollback report that halts the rollout,
// status, resume; gateways list shows what the gateways run.
func TestReleaseCLI(t *testing.T) {
	for _, store := range []string{"jetstream", "badger"} {
		t.Run(store, func(t *testing.T) { testReleaseCLI(t, store) })
	}
}

func testReleaseCLI(t *testing.T, store string) {
	dir := t.TempDir()
	if store == "badger" {
		b, err := receiver.OpenBadger(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	keys := map[string]wire.Key{}
	for i := range 12 {
		id := fmt.Sprintf("gw-%02d", i)
		place := "putuo/caoyang/c012/cp07"
		if i == 11 {
			place = "putuo/ganquan/c001/cp01"
		}
		out, stderr, code := run(t, context.Background(), "gateways", "add", id, "--place", place, "--data", dir)
		m := keyRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("gateways add: %d %s %s", code, out, stderr)
		}
		keys[id], _ = wire.ParseKey(m[1])
	}
	url := serveInProcess(t, dir)
	cmd := func(want int, args ...string) string {
		t.Helper()
		out, stderr, code := run(t, context.Background(), append(args, "--url", url)...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, stderr)
		}
		return out + stderr
	}
	if out := cmd(0, "release", "list"); !strings.Contains(out, "no releases") {
		t.Errorf("release list, empty: %s", out)
	}
	tmp := t.TempDir()
	const size = wire.MaxArtifactChunk + 4321
	artifact, manifest, art := writeRelease(t, tmp, "1.5.0", "linux", "arm", "7", size)
	sha := hex.EncodeToString(func() []byte { s := sha256.Sum256(art); return s[:] }())
	// A changed artifact is refused by the server.
	os.WriteFile(artifact+".bad", append(art[:size-1:size-1], 'x'), 0o644)
	if out := cmd(1, "release", "push", artifact+".bad", manifest); !strings.Contains(out, "hash mismatch") {
		t.Errorf("push of a changed artifact: %s", out)
	}
	cmd(64, "release", "push", artifact, artifact) // not a manifest
	out := cmd(0, "release", "push", artifact, manifest)
	if !strings.Contains(out, "release 1.5.0 for linux/arm/7 pushed") || !strings.Contains(out, "sha256: "+sha) || !strings.Contains(out, fmt.Sprintf("size: %d bytes", size)) {
		t.Fatalf("release push: %s", out)
	}
	a64, m64, _ := writeRelease(t, tmp, "1.5.0", "linux", "arm64", "", 1000)
	cmd(0, "release", "push", a64, m64)
	out = cmd(0, "release", "list")
	if !regexp.MustCompile(`1\.5\.0\s+linux/arm/7\s+`+fmt.Sprint(size)+`\s+`+sha[:12]+`\s`).MatchString(out) || !strings.Contains(out, "linux/arm64") {
		t.Errorf("release list:\n%s", out)
	}

	// Usage errors, and refusals by the server.
	cmd(64, "release", "rollout", "1.5.0")
	cmd(64, "release", "rollout", "1.5.0", "--gateway", "gw-00", "--all")
	cmd(64, "release", "rollout", "--halt", "r-1", "extra")
	cmd(64, "release", "rollout", "--canary", "101", "r-1")
	cmd(64, "release", "rollout", "1.5.0", "--place", "Putuo!")
	cmd(64, "release", "rollout", "1.5.0", "--canary", "10") // a version, no scope
	if out := cmd(1, "release", "rollout", "9.9.9", "--all"); !strings.Contains(out, "push a release of it first") {
		t.Errorf("rollout of an unknown version: %s", out)
	}
	cmd(1, "release", "rollout", "--halt", "r-nope")

	out = cmd(0, "release", "rollout", "1.5.0", "--place", "putuo/caoyang", "--canary", "30")
	m := regexp.MustCompile(`rollout (r-\d+) started: 1\.5\.0 to place putuo/caoyang, canary 30%`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rollout: %s", out)
	}
	id := m[1]
	arm := func(running string, broken ...string) *wire.UpdateStatus {
		return &wire.UpdateStatus{Running: running, Previous: "1.3.0", Broken: broken, State: wire.UpdateIdle, Platform: "linux/arm/7"}
	}
	offered := map[string]bool{}
	for gw, k := range keys {
		if o := releaseHeartbeat(t, url, gw, k, arm("1.4.0")); o != nil {
			if gw == "gw-11" || o.Rollout != id || o.SHA256 != sha {
				t.Fatalf("offer to %s: %+v", gw, o)
			}
			offered[gw] = true
		}
	}
	for g := range keys {
		if want := g != "gw-11" && receiver.InCanary(id, g, 30); offered[g] != want {
			t.Errorf("%s offered %v, in the 30%% canary %v", g, offered[g], want)
		}
	}
	out = cmd(0, "release", "rollout", "--canary", "100", id)
	if !strings.Contains(out, "rollout "+id+" changed: 1.5.0 to place putuo/caoyang, canary 100%, active") {
		t.Errorf("widen: %s", out)
	}
	for g := range offered {
		if releaseHeartbeat(t, url, g, keys[g], arm("1.4.0")) == nil {
			t.Errorf("%s no longer offered after widening", g)
		}
	}
	// One of them downloads it, resuming in the middle.
	gw := "gw-07"
	var got []byte
	for off := 0; off < size; {
		end := min(off+300000, size) - 1
		resp, b := gwRequest(t, "GET", url, wire.ReleasePath(sha), gw, keys[gw], nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, end)})
		if resp.StatusCode != 206 || len(b) != end-off+1 {
			t.Fatalf("chunk %d-%d: %d %d bytes", off, end, resp.StatusCode, len(b))
		}
		got, off = append(got, b...), end+1
	}
	if !bytes.Equal(got, art) {
		t.Fatal("downloaded artifact differs")
	}
	if resp, _ := gwRequest(t, "GET", url, wire.ReleasePath(sha), gw, keys[gw], nil, nil); resp.StatusCode != 416 {
		t.Errorf("no range: %d", resp.StatusCode)
	}

	// gw-00 runs it already, gw-01 is arm64, gw-02 says it is broken.
	releaseHeartbeat(t, url, "gw-00", keys["gw-00"], arm("1.5.0"))
	if o := releaseHeartbeat(t, url, "gw-01", keys["gw-01"], &wire.UpdateStatus{Running: "1.4.0", State: wire.UpdateIdle, Platform: "linux/arm64"}); o == nil || o.Size != 1000 {
		t.Errorf("arm64 gateway: %+v", o)
	}
	if o := releaseHeartbeat(t, url, "gw-02", keys["gw-02"], arm("1.4.0", "1.5.0")); o != nil {
		t.Errorf("offered a broken version: %+v", o)
	}
	releaseHeartbeat(t, url, "gw-03", keys["gw-03"], &wire.UpdateStatus{Running: "1.4.0", State: wire.UpdateIdle, Platform: "windows/amd64"})
	out = cmd(0, "release", "status", id)
	for _, re := range []string{
		`rollout ` + id + `: 1\.5\.0 to place putuo/caoyang, canary 100%, active`,
		`no release for windows/amd64`,
		`gw-00\s+linux/arm/7\s+1\.5\.0\s+idle\s+-\s+running`,
		`gw-02\s+linux/arm/7\s+1\.4\.0\s+idle\s+-\s+broken`,
		`gw-04\s+linux/arm/7\s+1\.4\.0\s+idle\s+-\s+offered\s+-`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("release status: no %q in\n%s", re, out)
		}
	}
	if strings.Contains(out, "gw-11") {
		t.Errorf("release status lists a gateway outside the place:\n%s", out)
	}
	out = cmd(0, "gateways", "list")
	if !regexp.MustCompile(`gw-00\s.*\s1\.5\.0\s+1\.3\.0\s+-\s`).MatchString(out) || !regexp.MustCompile(`gw-02\s.*\s1\.4\.0\s+1\.3\.0\s+1\.5\.0\s`).MatchString(out) ||
		!strings.Contains(out, "RUNNING") || !strings.Contains(out, "PREVIOUS") || !strings.Contains(out, "BROKEN") {
		t.Errorf("gateways list:\n%s", out)
	}

	// A rollback halts the rollout: nobody is offered it.
	rep, _ := json.Marshal(wire.UpdateReport{Rollout: id, From: "1.4.0", To: "1.5.0", Outcome: wire.UpdateRolledBack,
		Reason: "exited 3 times during its trial (exit status 1)", Attempts: 3, ExitCodes: []int{1, 1, 1}, LogTail: "panic: x\n", At: time.Now()})
	if resp, b := gwRequest(t, "POST", url, wire.PathReleaseReport, "gw-04", keys["gw-04"], rep, nil); resp.StatusCode != 200 {
		t.Fatalf("report: %d %s", resp.StatusCode, b)
	}
	if o := releaseHeartbeat(t, url, "gw-05", keys["gw-05"], arm("1.4.0")); o != nil {
		t.Errorf("offered after the rollback: %+v", o)
	}
	out = cmd(0, "release", "status")
	if !strings.Contains(out, "halted (rolled_back on gateway gw-04: exited 3 times during its trial (exit status 1))") ||
		!regexp.MustCompile(`gw-04\s.*rolled_back: exited 3 times`).MatchString(out) {
		t.Errorf("release status after the rollback:\n%s", out)
	}
	out = cmd(0, "release", "rollout", "--resume", id)
	if !strings.Contains(out, "rollout "+id+" resumed") || !strings.HasSuffix(strings.TrimSpace(out), "active") {
		t.Errorf("resume: %s", out)
	}
	if o := releaseHeartbeat(t, url, "gw-05", keys["gw-05"], arm("1.4.0")); o == nil {
		t.Error("not offered after resume")
	}
	out = cmd(0, "release", "rollout", "--halt", id, "--reason", "watchdog resets")
	if !strings.Contains(out, "halted (watchdog resets)") {
		t.Errorf("halt: %s", out)
	}
	// One gateway: a rollout of its own.
	out = cmd(0, "release", "rollout", "1.5.0", "--gateway", "gw-11", "--allow-downgrade")
	if !strings.Contains(out, "to gateway gw-11, canary 100%") {
		t.Errorf("rollout to a gateway: %s", out)
	}
	if o := releaseHeartbeat(t, url, "gw-11", keys["gw-11"], arm("1.6.0")); o == nil || !o.AllowDowngrade {
		t.Errorf("gw-11: %+v", o)
	}
}
