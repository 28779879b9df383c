//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/centralbench"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// The load of the cluster tests: small (the big one is edgebench central),
// long enough that the kill at 40% comes mid-run.
const (
	clusterGateways = 24
	clusterPerGW    = 300
	clusterBatch    = 50
	clusterPosters  = 8
	// requestBound is the longest a batch request may take, answered or
	// not: the receiver bounds a batch at 5 s (docs/central.md); the rest
	// is slack for a loaded machine. Past it the gateway would be hanging.
	requestBound = 15 * time.Second
	// rssLimit is each process's peak RSS target (issue 12).
	rssLimit = 256
)

var listeningRe = regexp.MustCompile(`listening on (http://\S+)`)

// serveProc is an `edgecentral serve` of the doc, run from the real binary.
func serveProc(t *testing.T, c docCmd) *centralbench.Proc {
	return &centralbench.Proc{Name: c.String(), Path: binary(t, "edgecentral"), Args: c.args[1:], Env: c.env,
		Ready: listeningRe, StopSignal: syscall.SIGTERM, Timeout: 90 * time.Second}
}

// startAll starts the processes at once (cluster nodes wait for each
// other) and stops them at the end of the test.
func startAll(t *testing.T, procs []*centralbench.Proc) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s: last output:\n%s", p.Name, p.Tail(40))
			}
		}
		stopAll(t, procs)
	})
	errs := make([]error, len(procs))
	var wg gosync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.Start() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// stopAll sends SIGTERM to all at once (a cluster node hands its
// leaderships over first) and reports an unclean exit.
func stopAll(t *testing.T, procs []*centralbench.Proc) {
	var wg gosync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(); err != nil {
				t.Errorf("stop: %v\n%s", err, p.Tail(10))
			}
		}()
	}
	wg.Wait()
}

// waitReady waits until every receiver answers /readyz 200.
func waitReady(t *testing.T, urls []string, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, u := range urls {
		for {
			resp, err := http.Get(u + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case <-deadline.C:
				t.Fatalf("%s/readyz not 200 within %v: %v", u, within, err)
			case <-tick.C:
			}
		}
	}
}

// addDocGateway runs the doc's `edgecentral gateways add` and returns the
// key it prints.
func addDocGateway(t *testing.T, c docCmd) wire.Key {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "edgecentral"), c.args[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	m := keyRe.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("`%s`: %v\n%s", c, err, out)
	}
	key, err := wire.ParseKey(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// loadGateways is the test's backlog: clusterGateways gateways registered
// through the admin API of admin, and the doc's gateway gw-cp07 with key.
func loadGateways(t *testing.T, admin string, docGateway docCmd, key wire.Key) []centralbench.Gateway {
	t.Helper()
	gws, err := centralbench.Gateways(clusterGateways+1, clusterPerGW, clusterBatch, time.Now().Add(-time.Hour).Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	doc := &gws[clusterGateways]
	doc.ID, doc.Place, doc.Key = docGateway.args[3], flagValue(docGateway.args, "--place"), key
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := centralbench.Register(ctx, &http.Client{Timeout: 10 * time.Second}, admin, gws[:clusterGateways], nil); err != nil {
		t.Fatal(err)
	}
	return gws
}

// killRun uploads gws through the receivers; once 40% is acknowledged it
// calls kill (which SIGKILLs the stream leader's process and restarts it);
// then it reads the stream back through natsURLs and checks that nothing
// was lost or stored twice and that no request hung.
func killRun(t *testing.T, gws []centralbench.Gateway, receivers, natsURLs []string, kill func(leader string) error, procs []*centralbench.Proc) {
	t.Helper()
	total := 0
	for i := range gws {
		total += gws[i].Events()
	}
	cl := &http.Client{Timeout: 2 * requestBound, Transport: &http.Transport{MaxIdleConnsPerHost: clusterPosters}}
	killAt := int64(total) * 4 / 10
	var once gosync.Once
	killNow := make(chan int64, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	loadDone := make(chan struct{})
	var load *centralbench.LoadResult
	var loadErr error
	go func() {
		defer close(loadDone)
		load, loadErr = centralbench.Upload(ctx, centralbench.Load{Gateways: gws, Posters: clusterPosters, Client: cl,
			URL: func(i int) string { return receivers[i%len(receivers)] },
			OnAck: func(n int64) {
				if n >= killAt {
					once.Do(func() { killNow <- n })
				}
			}})
	}()
	killErr := make(chan error, 1)
	select {
	case n := <-killNow:
		leader := waitLeader(t, natsURLs)
		t.Logf("at %d of %d events acknowledged: SIGKILL the stream leader %q and restart it", n, total, leader)
		go func() { killErr <- kill(leader) }()
	case <-loadDone:
		t.Fatalf("the upload ended before the kill: %v", loadErr)
	}
	sample := time.NewTicker(250 * time.Millisecond)
	defer sample.Stop()
wait:
	for {
		select {
		case <-loadDone:
			break wait
		case <-sample.C:
			for _, p := range procs {
				p.Sample()
			}
		}
	}
	if loadErr != nil {
		t.Fatalf("upload: %v (%d events acknowledged, failures %v, slowest request %v)", loadErr, load.Events, load.Failures, load.SlowestRequest)
	}
	if err := <-killErr; err != nil {
		t.Fatalf("kill and restart: %v", err)
	}
	t.Logf("upload: %d events in %d batches, %.1fs, %d retries %v, longest stall %.1fs, slowest request %.1fs",
		load.Events, load.Batches, load.Seconds, load.Retries, load.Failures, load.LongestStall.Seconds(), load.SlowestRequest.Seconds())
	if load.SlowestRequest > requestBound || load.Failures["timeout"] > 0 {
		t.Errorf("a request took %v (%d timed out): want every request answered within %v", load.SlowestRequest, load.Failures["timeout"], requestBound)
	}
	if load.NoRetryAfter > 0 {
		t.Errorf("%d answers 429/503 without Retry-After", load.NoRetryAfter)
	}
	waitReady(t, receivers, 90*time.Second)

	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	var tally centralbench.Tally
	if err := centralbench.ReadBack(rctx, edge.SystemClock{}, natsURLs, &tally); err != nil {
		t.Fatalf("read back: %v", err)
	}
	lost := 0
	for g := range gws {
		epoch := uint64(1_000_000 + g)
		for seq := uint64(1); seq <= clusterPerGW; seq++ {
			if tally.Seen[[2]uint64{epoch, seq}] == 0 {
				lost++
			}
		}
	}
	t.Logf("read back: %d events stored, %d lost, %d duplicates", len(tally.Seen), lost, tally.Duplicates)
	if lost != 0 || tally.Duplicates != 0 || len(tally.Seen) != total {
		t.Errorf("got %d stored, %d lost, %d duplicates; want %d stored, 0 lost, 0 duplicates", len(tally.Seen), lost, tally.Duplicates, total)
	}
	if r := streamReplicas(t, natsURLs); r != 3 {
		t.Errorf("events stream: %d replicas, want 3", r)
	}
	checkRSS(t, procs)
}

// streamReplicas is the events stream's configured replicas.
func streamReplicas(t *testing.T, urls []string) int {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, jsstore.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().Config.Replicas
}

// waitLeader asks for the events stream's leader until it has an answer
// (a loaded machine may not answer the first time).
func waitLeader(t *testing.T, urls []string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if l := centralbench.StreamLeader(urls); l != "" {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader of the events stream within a minute")
		}
	}
}

// checkRSS reports each process's peak RSS (VmHWM, the largest of its
// runs) and fails above rssLimit.
func checkRSS(t *testing.T, procs []*centralbench.Proc) {
	t.Helper()
	var b strings.Builder
	for _, p := range procs {
		v := p.Sample()
		fmt.Fprintf(&b, "\n  %6.1f MiB  %s", v, p.Name)
		if v > rssLimit {
			t.Errorf("%s: peak RSS %.1f MiB, want at most %d MiB", p.Name, v, rssLimit)
		}
		if v == 0 {
			t.Errorf("%s: no peak RSS read", p.Name)
		}
	}
	t.Logf("peak RSS:%s", b.String())
}

// TestEmbeddedClusterKill runs the doc's three `edgecentral serve
// --cluster-node N` processes (R3), uploads from concurrent gateways
// through all three receivers, SIGKILLs the process holding the events
// stream's leader at 40% and restarts it, and reads everything back.
func TestEmbeddedClusterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three edgecentral processes")
	}
	binary(t, "edgecentral")
	t0 := time.Now()
	dir := t.TempDir()
	block := docBlock(t, "### Three edgecentral processes, each embedding one node", "")
	cmds := parseScript(t, block)
	cmds = rewrite(cmds, docPorts(t, block), docPaths(dir))
	var nodes []*centralbench.Proc
	var receivers, natsURLs []string
	var add docCmd
	for _, c := range cmds {
		switch {
		case len(c.args) > 2 && c.args[0] == "edgecentral" && c.args[1] == "serve":
			if flagValue(c.args, "--cluster-node") == "" {
				t.Fatalf("%s: %q is not a cluster node", centralDoc, c)
			}
			c.args = append(c.args, "--log-level", "warn")
			nodes = append(nodes, serveProc(t, c))
			receivers = append(receivers, "http://"+flagValue(c.args, "--listen"))
			natsURLs = append(natsURLs, "nats://"+flagValue(c.args, "--nats-listen"))
		case len(c.args) > 2 && c.args[0] == "edgecentral" && c.args[1] == "gateways":
			add = c
		default:
			t.Fatalf("%s: unexpected command %q in the three-node example", centralDoc, c)
		}
	}
	if len(nodes) != 3 || add.args == nil {
		t.Fatalf("%s: want three serve commands and a gateways add, got %d and %v", centralDoc, len(nodes), add)
	}
	startAll(t, nodes)
	waitReady(t, receivers, 90*time.Second)
	t.Logf("three nodes ready in %.1fs", time.Since(t0).Seconds())
	gws := loadGateways(t, receivers[0], add, addDocGateway(t, add))

	killRun(t, gws, receivers, natsURLs, func(leader string) error {
		victim := -1
		for i := range nodes {
			if leader == fmt.Sprintf("edgecentral-%d", i+1) {
				victim = i
			}
		}
		if victim < 0 {
			return fmt.Errorf("stream leader %q is none of the three nodes", leader)
		}
		nodes[victim].Kill()
		return nodes[victim].Start()
	}, nodes)
	t.Logf("total %.1fs", time.Since(t0).Seconds())
}

// TestNATSServerClusterKill runs the doc's three nats-server processes
// (built from the pinned module) with the doc's config files and two
// `edgecentral serve --nats` receivers, uploads, SIGKILLs the nats-server
// holding the events stream's leader at 40% and restarts it, and reads
// everything back.
func TestNATSServerClusterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-server and two edgecentral processes")
	}
	binary(t, "nats-server")
	t0 := time.Now()
	dir := t.TempDir()
	conf := docBlock(t, "### Three nats-server release binaries", "# n1.conf")
	block := docBlock(t, "### Three nats-server release binaries", "GOMEMLIMIT")
	var confs []string
	for k := 1; k <= 3; k++ {
		confs = append(confs, natsNodeConf(t, conf, k))
	}
	ports := docPorts(t, append(confs, block)...)
	paths := docPaths(dir)
	cmds := rewrite(parseScript(t, block), ports, paths)
	var servers, receivers []*centralbench.Proc
	var receiverURLs, natsURLs []string
	var add docCmd
	for _, c := range cmds {
		switch {
		case c.args[0] == "nats-server":
			if len(c.args) != 3 || c.args[1] != "-c" || c.args[2] != "n1.conf" {
				t.Fatalf("%s: want `nats-server -c n1.conf`, got %q", centralDoc, c)
			}
			for k := 1; k <= 3; k++ {
				file := filepath.Join(dir, fmt.Sprintf("n%d.conf", k))
				if err := os.WriteFile(file, []byte(paths(ports(confs[k-1]))), 0o644); err != nil {
					t.Fatal(err)
				}
				servers = append(servers, &centralbench.Proc{Name: fmt.Sprintf("nats-server n%d", k), Path: binary(t, "nats-server"),
					Args: []string{"-c", file}, Env: c.env, Ready: regexp.MustCompile(`Server is ready`),
					StopSignal: syscall.SIGTERM, Timeout: 90 * time.Second})
			}
		case len(c.args) > 2 && c.args[0] == "edgecentral" && c.args[1] == "serve":
			c.args = append(c.args, "--log-level", "warn")
			receivers = append(receivers, serveProc(t, c))
			receiverURLs = append(receiverURLs, "http://"+flagValue(c.args, "--listen"))
			natsURLs = strings.Split(flagValue(c.args, "--nats"), ",")
		case len(c.args) > 2 && c.args[0] == "edgecentral" && c.args[1] == "gateways":
			add = c
		default:
			t.Fatalf("%s: unexpected command %q in the nats-server example", centralDoc, c)
		}
	}
	if len(servers) != 3 || len(receivers) != 2 || len(natsURLs) != 3 || add.args == nil {
		t.Fatalf("%s: want three nats-servers, two receivers on three URLs and a gateways add; got %d, %d, %v, %v", centralDoc, len(servers), len(receivers), natsURLs, add)
	}
	startAll(t, servers)
	startAll(t, receivers)
	waitReady(t, receiverURLs, 90*time.Second)
	t.Logf("three nats-servers and two receivers ready in %.1fs", time.Since(t0).Seconds())
	gws := loadGateways(t, receiverURLs[0], add, addDocGateway(t, add))

	killRun(t, gws, receiverURLs, natsURLs, func(leader string) error {
		for i, s := range servers {
			if leader == fmt.Sprintf("n%d", i+1) {
				s.Kill()
				return s.Start()
			}
		}
		return fmt.Errorf("stream leader %q is none of the three servers", leader)
	}, append(append([]*centralbench.Proc{}, servers...), receivers...))
	t.Logf("total %.1fs", time.Since(t0).Seconds())
}
