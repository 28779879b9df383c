package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// TestBrowserDistrictPage: the district page shows the hierarchy with the
// gateways online and offline per node, follows a heartbeat live, and
// speaks Chinese.
func TestBrowserDistrictPage(t *testing.T) {
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat("../../scripts/browser/node_modules/playwright-core"); err != nil {
		missing = append(missing, "playwright-core")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %v (scripts/setup.sh)", missing)
		}
		t.Skipf("browser test needs %v (scripts/setup.sh)", missing)
	}
	dir := t.TempDir()
	keys := map[string]wire.Key{}
	for id, place := range map[string]string{"gw-a": "putuo/caoyang/c012/cp07", "gw-b": "putuo/caoyang/c012/cp08", "gw-c": "putuo/ganquan/c001/cp01"} {
		out, stderr, code := run(t, context.Background(), "gateways", "add", id, "--place", place, "--data", dir)
		m := keyRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("gateways add %s: %d %s", id, code, stderr)
		}
		keys[id], _ = wire.ParseKey(m[1])
	}
	url := serveInProcess(t, dir)
	heartbeat := func(id string) {
		t.Helper()
		body, _ := json.Marshal(wire.Heartbeat{Version: "test", Time: time.Now(), BacklogEvents: 7})
		req, _ := http.NewRequest("POST", url+wire.PathHeartbeat, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		wire.SignRequest(req, id, keys[id], body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("heartbeat %s: %v %v", id, err, resp)
		}
		resp.Body.Close()
	}
	heartbeat("gw-a")

	nctx, ncancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ncancel()
	node := exec.CommandContext(nctx, "node", "testdata/district.mjs", url+"/district")
	stdin, _ := node.StdinPipe()
	stdout, _ := node.StdoutPipe()
	var nerr bytes.Buffer
	node.Stderr = &nerr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); node.Wait() }()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	type snap struct {
		Summary string
		Text    string
		Nodes   []struct {
			Path, Level     string
			Online, Offline int
		}
	}
	var first struct {
		snap
		Ready bool
		Error string
	}
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &first) != nil || !first.Ready {
		t.Fatalf("browser: %s %s", sc.Text(), nerr.String())
	}
	if first.Summary != "1 of 3 gateways online" {
		t.Errorf("summary %q", first.Summary)
	}
	found := map[string][2]int{}
	for _, n := range first.Nodes {
		found[n.Path] = [2]int{n.Online, n.Offline}
	}
	if found["putuo/caoyang"] != [2]int{1, 1} || found["putuo/ganquan"] != [2]int{0, 1} || found["putuo/caoyang/c012/cp07/gw-a"] != [2]int{1, 0} {
		t.Errorf("nodes %+v", found)
	}
	heartbeat("gw-c")
	fmt.Fprintln(stdin, "go")
	var last struct {
		After, Zh snap
		Errors    []string
		Error     string
	}
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &last) != nil || last.Error != "" {
		t.Fatalf("browser: %s %s", sc.Text(), nerr.String())
	}
	if last.After.Summary != "2 of 3 gateways online" {
		t.Errorf("after a heartbeat: %q", last.After.Summary)
	}
	if !strings.Contains(last.Zh.Summary, "3 个网关中 2 个在线") || !strings.Contains(last.Zh.Text, "街道") {
		t.Errorf("in Chinese: %q", last.Zh.Summary)
	}
	if len(last.Errors) > 0 {
		t.Errorf("page errors: %v", last.Errors)
	}
}
