//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/hostile"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// TestServeHostile is the short version of `edgebench hostile`, against a
// real `edgecentral serve` process with its defaults: 100 concurrent
// clients send forged 4 MiB bodies in a good gateway's name, then a dozen
// send gzip bombs and batches that cost 50 times their size to decode, in
// the name of a gateway whose key they have, and one a poison batch (an
// alert at year 10000). Every hostile request gets a 4xx (429 or 503 with
// Retry-After when the server sheds load), the server's peak RSS stays
// under 128 MiB, and the good gateway keeps getting its batches stored.
func TestServeHostile(t *testing.T) {
	dir := t.TempDir()
	store, err := receiver.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	goodKey, err1 := receiver.AddGateway(store, "good", time.Now())
	evilKey, err2 := receiver.AddGateway(store, "evil", time.Now())
	store.Close()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	cmd, url, stderr := startServe(t, dir)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: time.Minute}

	// The good gateway posts batches of 100 readings, one after the other.
	ctx, stop := context.WithCancel(context.Background())
	var acked atomic.Int64
	goodDone := make(chan error, 1)
	go func() {
		for seq := uint64(1); ctx.Err() == nil; {
			evs := make([]wire.Event, 100)
			for i := range evs {
				evs[i] = wire.Event{Epoch: 77, Seq: seq + uint64(i), Time: time.Now(), ClockTrusted: true, Kind: wire.KindReading, Device: "t1", Value: 21}
			}
			body, _ := wire.GzipBatch(evs)
			st, _, err := hostile.Send(ctx, client, url, hostile.Request{Gateway: "good", Key: goodKey, Body: body}, time.Now())
			switch {
			case ctx.Err() != nil:
			case err != nil:
				goodDone <- err
				return
			case st == 200:
				acked.Add(100)
				seq += 100
			case st != 429 && st != 503:
				goodDone <- &statusError{st}
				return
			}
		}
		goodDone <- nil
	}()
	progress := func(what string, f func()) {
		before := acked.Load()
		f()
		if acked.Load() == before {
			t.Errorf("the good gateway stored nothing during %s", what)
		}
	}

	other, _ := wire.NewKey()
	forged := hostile.Garbage(4 << 20)
	forgedTally := hostile.NewTally()
	progress("the forged bodies", func() {
		hostile.Flood(ctx, client, url, 100, forgedTally, func(w, i int) (hostile.Request, bool) {
			return hostile.Request{Gateway: "good", Key: other, Body: forged, NoDigest: w%4 == 0}, i < 2
		}, time.Now)
	})
	bombs := [][]byte{hostile.Bomb(64<<20, 0), hostile.Bomb(32<<20, 15<<20), hostile.Costly(100000)}
	bombTally := hostile.NewTally()
	progress("the bombs", func() {
		hostile.Flood(ctx, client, url, 12, bombTally, func(w, i int) (hostile.Request, bool) {
			return hostile.Request{Gateway: "evil", Key: evilKey, Body: bombs[(w+i)%len(bombs)]}, i < 3
		}, time.Now)
	})
	st, _, err := hostile.Send(ctx, client, url, hostile.Request{Gateway: "evil", Key: evilKey, Body: hostile.Poison(5, time.Now())}, time.Now())
	if err != nil || st != 422 {
		t.Errorf("poison batch: got %d %v, want 422", st, err)
	}
	stop()
	if err := <-goodDone; err != nil {
		t.Fatalf("good gateway: %v", err)
	}

	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("forged: %s; bombs: %s; good gateway stored %d events; edgecentral peak RSS %.1f MiB", forgedTally, bombTally, acked.Load(), peak)
	for name, tl := range map[string]*hostile.Tally{"forged": forgedTally, "bombs": bombTally} {
		if n, first := tl.Problems(); n > 0 {
			t.Errorf("%s: %d wrong answers, e.g. %v", name, n, first)
		}
	}
	if peak >= 128 && !raceEnabled { // the race detector takes 5-10 times the memory
		t.Errorf("edgecentral peak RSS %.1f MiB, want under 128", peak)
	}
	var stats receiver.Stats
	resp, err := http.Get(url + "/v1/admin/stats")
	if err == nil {
		json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
	}
	if stats.BudgetPeak > stats.BudgetBytes || stats.Refused[wire.CodeInternal] > 0 {
		t.Errorf("stats: %+v", stats)
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("edgecentral log:\n%s", stderr.String())
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.status) }

// vmHWM reads the peak resident set size of pid, in MiB.
func vmHWM(t *testing.T, pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
