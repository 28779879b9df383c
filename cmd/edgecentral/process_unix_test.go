//go:build unix

package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
)

// startServe runs `edgecentral serve` as a child process (this test binary,
// see TestMain) and returns it with its URL.
func startServe(t *testing.T, dir string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--data", dir)
	cmd.Env = append(os.Environ(), "EDGECENTRAL_TEST_MAIN=1")
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case url := <-urlc:
		return cmd, url, stderr
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start: %s", stderr.String())
	}
	return nil, "", nil
}

// TestServeProcess: SIGKILL after an acknowledged batch loses nothing (it
// was durable before the answer) and a resend is a duplicate; SIGTERM shuts
// down cleanly with exit code 0 and releases the store.
func TestServeProcess(t *testing.T) {
	dir := t.TempDir()
	store, err := receiver.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := receiver.AddGateway(store, "gw1", time.Now())
	store.Close()
	if err != nil {
		t.Fatal(err)
	}

	cmd, url, _ := startServe(t, dir)
	events := sampleEvents(1)
	if br := postBatch(t, url, "gw1", key, events); br.Stored != 3 {
		t.Fatalf("got %+v", br)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	cmd, url, stderr := startServe(t, dir)
	br := postBatch(t, url, "gw1", key, append(events, sampleEvents(4)...))
	if br.Stored != 3 || br.Duplicates != 3 || !br.CoversAll(events) {
		t.Fatalf("after SIGKILL: got %+v, want stored 3, duplicates 3", br)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), "edgecentral stopped") {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
	store, err = receiver.OpenBadger(dir, nil)
	if err != nil {
		t.Fatalf("store after SIGTERM: %v", err)
	}
	defer store.Close()
	got, _, err := store.Events("gw1", 0, 100)
	if err != nil || len(got) != 6 {
		t.Fatalf("got %d events (%v), want 6", len(got), err)
	}
}
