package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/central"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// centralResult is what `edgebench central --json` prints, per setup.
type centralResult struct {
	Setup        string  `json:"setup"` // cluster-r3, embedded-r1, badger
	Gateways     int     `json:"gateways"`
	Nodes        int     `json:"nodes"`
	Receivers    int     `json:"receivers"`
	EventsSent   int     `json:"events_sent"`
	EventsStored int     `json:"events_stored"` // unique, read back
	Lost         int     `json:"lost"`
	Duplicates   int     `json:"duplicates"`
	EventsPerSec float64 `json:"events_per_sec"`
	Seconds      float64 `json:"seconds"`
	Batches      int64   `json:"batches"`
	BatchEvents  int     `json:"batch_events"`
	NATSSync     string  `json:"nats_sync,omitempty"` // always, or the fsync interval
	Retries      int64   `json:"retries"`             // answers other than 200 (503, 429, connection refused), each retried
	Killed       string  `json:"killed,omitempty"`
	// KilledAt and RestartedAt: seconds into the upload phase; the
	// restart counts once the process serves again.
	KilledAt     float64 `json:"killed_at_s,omitempty"`
	RestartedAt  float64 `json:"restarted_at_s,omitempty"`
	LongestStall float64 `json:"longest_stall_s"` // longest time without any acknowledged batch
	PeakRSSMiB   float64 `json:"peak_rss_mib"`    // largest single process
	// EventsPerSecOutsideStall is events_per_sec with the longest stall
	// (the leader election after the kill) taken out of the time.
	EventsPerSecOutsideStall float64   `json:"events_per_sec_outside_stall"`
	RSSMiB                   []float64 `json:"rss_mib"` // each process's peak (a restarted one: after the restart)
	// CPUPerMEvent is the CPU seconds each process spent in the upload
	// phase per million events sent: loadgen (this process: HTTP, HMAC;
	// the batches are gzipped before the phase), node1.. (NATS node and
	// receiver in one process; a killed one until the kill, its restart
	// as nodeN-restart).
	CPUPerMEvent map[string]float64 `json:"cpu_s_per_mevent,omitempty"`
	LoadAvg      string             `json:"loadavg"`
}

func init() {
	var (
		gateways, nodes, perGW, batch, posters int
		budget                                 int64
		nodeLogs                               bool
		kill, asJSON, compare                  bool
		dir, profDir, natsSync                 string
	)
	app.Register(&cli.Command{
		Name:  "central",
		Short: "1,000 gateways upload to a three-node JetStream edgecentral; SIGKILL a node mid-run; read everything back",
		Usage: `Starts --nodes edgecentral processes (this binary's central-node child: each
embeds one JetStream node of an R3 cluster and runs an HTTP receiver; --nodes 1
is the embedded single node), registers --gateways gateways with a place, and
uploads --events-per-gateway events of each over real HTTP: signed, gzipped
batches of --batch events, each gateway with its own key and epoch, spread
over the receivers; a refused or failed batch is retried on the next receiver.
With --kill it SIGKILLs the process holding the events stream's leader (its
NATS node and its receiver) at 40% and restarts it. Then it reads every event
back from the stream and counts the lost and the duplicated.
--compare runs the same load against the embedded single node and the Badger
receiver too.

Example:
  edgebench central --gateways 1000 --nodes 3 --kill --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&gateways, "gateways", 1000, "simulated gateways")
			fs.IntVar(&nodes, "nodes", 3, "edgecentral processes: 3 (an R3 cluster) or 1 (embedded single node)")
			fs.IntVar(&perGW, "events-per-gateway", 5000, "backlog of each gateway")
			fs.IntVar(&batch, "batch", 5000, "events per batch (the uplink sends up to uplink.max_events, default 5,000, from a backlog)")
			fs.IntVar(&posters, "posters", 48, "concurrent uploads")
			fs.BoolVar(&kill, "kill", false, "SIGKILL the stream leader's process at 40% and restart it")
			fs.BoolVar(&compare, "compare", false, "also run the embedded single node and the Badger receiver")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object per setup")
			fs.StringVar(&dir, "dir", "", "parent directory for the data (default $TMPDIR)")
			fs.Int64Var(&budget, "memory-budget", 0, "each receiver's memory budget in bytes (0: receiver.DefaultMemoryBudget)")
			fs.BoolVar(&nodeLogs, "node-log", false, "the central processes log to stderr")
			fs.StringVar(&natsSync, "nats-sync", "always", "the NATS nodes' fsync: always, or an interval such as 1s (edgecentral serve --nats-sync)")
			fs.StringVar(&profDir, "cpuprofile", "", "write CPU profiles of the upload phase to `dir`: <setup>-loadgen.pprof and <setup>-node<N>[-restart].pprof per process")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			setups := []string{"cluster-r3"}
			if nodes == 1 {
				setups = []string{"embedded-r1"}
			}
			if compare {
				setups = []string{"cluster-r3", "embedded-r1", "badger"}
			}
			for _, s := range setups {
				r, err := runCentralBench(ctx, env, s, gateways, perGW, batch, posters, kill && s == "cluster-r3", dir, profDir, natsSync, budget, nodeLogs)
				if err != nil {
					return fmt.Errorf("%s: %w", s, err)
				}
				if asJSON {
					b, _ := json.Marshal(r)
					fmt.Fprintln(env.Stdout, string(b))
				} else {
					fmt.Fprintf(env.Stdout, "%s: %d gateways, %d events sent, %d stored, %d lost, %d duplicates, %.0f events/s, longest stall %.1fs, peak RSS %.0f MiB %v\n",
						r.Setup, r.Gateways, r.EventsSent, r.EventsStored, r.Lost, r.Duplicates, r.EventsPerSec, r.LongestStall, r.PeakRSSMiB, r.RSSMiB)
				}
			}
			return nil
		},
	})
	var n central.Options
	var node int
	var routes, natsURLs, nodeProfile string
	var nodeSync time.Duration
	var nodeBudget int64
	var nodeLog bool
	app.Register(&cli.Command{
		Name:  "central-node",
		Short: "internal: an edgecentral process of 'edgebench central'",
		Usage: "Runs central.Start with the flags; prints `URL <url>` once the store is open; serves until stdin closes.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&n.Data, "data", "", "data directory")
			fs.StringVar(&n.Store, "store", "", "store kind")
			fs.IntVar(&node, "node", 0, "cluster node")
			fs.StringVar(&routes, "routes", "", "routes")
			fs.StringVar(&natsURLs, "nats", "", "external NATS URLs")
			fs.StringVar(&n.ClusterListen, "cluster-listen", "", "route address")
			fs.StringVar(&n.NATSListen, "nats-listen", "", "client address")
			fs.StringVar(&n.Addr, "listen", "127.0.0.1:0", "HTTP address")
			fs.DurationVar(&nodeSync, "nats-sync", 0, "fsync interval of the NATS node (0: always)")
			fs.Int64Var(&nodeBudget, "memory-budget", 0, "the receiver's memory budget in bytes (0: its default)")
			fs.BoolVar(&nodeLog, "log", false, "log (info and up) to stderr")
			fs.StringVar(&nodeProfile, "cpuprofile", "", "CPU profile `file`, written between the lines profile-start and profile-stop on stdin")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			n.ClusterNode = node
			n.SyncInterval = nodeSync
			if nodeLog {
				n.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", node)
			}
			if routes != "" {
				n.Routes = strings.Split(routes, ",")
			}
			if natsURLs != "" {
				n.NATS = strings.Split(natsURLs, ",")
			}
			n.Receiver = receiver.Options{GatewayRate: 1000, GatewayBurst: 2000, MemoryBudget: nodeBudget}
			srv, err := central.Start(n)
			if err != nil {
				return err
			}
			if err := <-srv.Opened(); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "URL %s\n", srv.URL())
			profileOnCommand(os.Stdin, nodeProfile)
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Close(cctx)
		},
	})
}

type benchProc struct {
	args  []string
	name  string // node1..: the CPU figure's and the profile's name
	prof  string // CPU profile directory, "" = none
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
	peak  float64
	cpu0  float64 // CPU seconds at profile-start
}

func (p *benchProc) start() error {
	args := append([]string{"central-node"}, p.args...)
	if p.prof != "" {
		args = append(args, "--cpuprofile", filepath.Join(p.prof, p.name+".pprof"))
	}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Stderr = os.Stderr
	out, _ := p.cmd.StdoutPipe()
	p.stdin, _ = p.cmd.StdinPipe()
	if err := p.cmd.Start(); err != nil {
		return err
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				urlc <- u
			}
		}
		close(urlc)
	}()
	u, ok := <-urlc
	if !ok {
		return fmt.Errorf("central-node %v did not start", p.args)
	}
	p.url = u
	return nil
}

// command sends a line to the child (profile-start, profile-stop).
func (p *benchProc) command(line string) { io.WriteString(p.stdin, line+"\n") }

// cpu is the child's CPU seconds so far.
func (p *benchProc) cpu() float64 {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return procCPUSeconds(p.cmd.Process.Pid)
}

func (p *benchProc) sample() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.peak = max(p.peak, peakRSSMiB(p.cmd.Process.Pid))
	}
}

// benchClock is the wall clock the central benchmark measures and waits on.
var benchClock edge.Clock = edge.SystemClock{}

func (p *benchProc) stop() {
	if p.cmd == nil {
		return
	}
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-benchClock.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func runCentralBench(ctx context.Context, env *cli.Env, setup string, gateways, perGW, batchN, posters int, kill bool, parent, profDir, natsSync string, budget int64, nodeLogs bool) (*centralResult, error) {
	tmp, err := os.MkdirTemp(parent, "edgebench-central-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &centralResult{Setup: setup, Gateways: gateways, BatchEvents: batchN}
	var procs []*benchProc
	var natsURLs []string
	switch setup {
	case "cluster-r3":
		ports, err := freePorts(6)
		if err != nil {
			return nil, err
		}
		var routes []string
		for i := range 3 {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
			natsURLs = append(natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		}
		for i := range 3 {
			procs = append(procs, &benchProc{args: []string{"--data", filepath.Join(tmp, fmt.Sprint("n", i+1)),
				"--node", strconv.Itoa(i + 1), "--routes", strings.Join(routes, ","),
				"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "--nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[i])}})
		}
	case "embedded-r1":
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		natsURLs = []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0])}
		procs = []*benchProc{{args: []string{"--data", filepath.Join(tmp, "n1"), "--store", "jetstream", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[0])}}}
	case "badger":
		procs = []*benchProc{{args: []string{"--data", filepath.Join(tmp, "badger"), "--store", "badger"}}}
	}
	res.Nodes, res.Receivers = len(procs), len(procs)
	for i, p := range procs {
		p.name = fmt.Sprintf("%s-node%d", setup, i+1)
		p.prof = profDir
		if nodeLogs {
			p.args = append(p.args, "--log")
		}
		if budget > 0 {
			p.args = append(p.args, "--memory-budget", strconv.FormatInt(budget, 10))
		}
		if setup != "badger" && natsSync != "" && natsSync != "always" {
			p.args = append(p.args, "--nats-sync", natsSync)
		}
	}
	if setup != "badger" {
		res.NATSSync = natsSync
	}
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.start() }()
	}
	wg.Wait()
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: posters}}

	// Register the gateways (place: 4 streets x 5 committees x compounds).
	keys := make([]wire.Key, gateways)
	for i := range gateways {
		body, _ := json.Marshal(receiver.AddGatewayRequest{ID: fmt.Sprintf("gw-%04d", i),
			Place: fmt.Sprintf("putuo/street%d/c%02d/cp%03d", i%4, i%20, i)})
		var out receiver.AddGatewayResponse
		for attempt := 0; ; attempt++ {
			resp, err := cl.Post(procs[0].url+"/v1/admin/gateways", "application/json", bytes.NewReader(body))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					json.Unmarshal(b, &out)
					break
				}
				err = fmt.Errorf("%s: %s", resp.Status, b)
			}
			if attempt > 50 {
				return nil, fmt.Errorf("add gateway: %w", err)
			}
			<-benchClock.After(200 * time.Millisecond)
		}
		keys[i] = out.Key
	}
	// Pre-encode every batch: each gateway has its epoch and a backlog.
	type gwBatch struct {
		body []byte
		n    int
	}
	batches := make([][]gwBatch, gateways)
	t0 := benchClock.Now().Add(-time.Hour).Truncate(time.Second)
	for g := range gateways {
		epoch := uint64(1_000_000 + g)
		for from := 1; from <= perGW; from += batchN {
			n := min(batchN, perGW-from+1)
			evs := make([]wire.Event, n)
			for i := range evs {
				seq := uint64(from + i)
				evs[i] = wire.Event{Epoch: epoch, Seq: seq, Time: t0.Add(time.Duration(seq) * 100 * time.Millisecond),
					ClockTrusted: true, Kind: wire.KindReading, Device: fmt.Sprintf("b%d-temp-%d", seq%6, seq%11),
					Point: "temperature", Value: 18 + float64(seq%97)/10, Unit: "°C"}
			}
			body, err := wire.GzipBatch(evs)
			if err != nil {
				return nil, err
			}
			batches[g] = append(batches[g], gwBatch{body, n})
			res.EventsSent += n
		}
	}
	// Upload: each poster takes its share of the gateways, one batch of
	// each in turn (a gateway uploads one batch at a time).
	var sent, batchesDone, retries atomic.Int64
	var lastAck atomic.Int64
	lastAck.Store(benchClock.Now().UnixNano())
	var longest atomic.Int64
	recvURL := func(i int) string { return procs[i%len(procs)].url }
	var urlMu sync.RWMutex
	killAt := int64(res.EventsSent) * 4 / 10
	killed := make(chan struct{})
	var killOnce sync.Once
	// The measured phase: CPU per process from here to the last answer.
	res.CPUPerMEvent = map[string]float64{}
	cpuUsed := map[string]float64{}
	stopLoadgenProfile, err := startProfile(profDir, setup+"-loadgen.pprof")
	if err != nil {
		return nil, err
	}
	defer stopLoadgenProfile()
	loadgen0 := procCPUSeconds(os.Getpid())
	for _, p := range procs {
		p.command("profile-start")
		p.cpu0 = p.cpu()
	}
	start := benchClock.Now()
	var pwg sync.WaitGroup
	for p := range posters {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			next := map[int]int{}
			var mine []int
			for g := p; g < gateways; g += posters {
				mine = append(mine, g)
			}
			for len(mine) > 0 {
				var keep []int
				for _, g := range mine {
					b := batches[g][next[g]]
					bo := edge.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond, Clock: benchClock}
					for attempt := 0; ; attempt++ {
						urlMu.RLock()
						u := recvURL(g + attempt)
						urlMu.RUnlock()
						err := postBatch(ctx, cl, u, fmt.Sprintf("gw-%04d", g), keys[g], b.body)
						if err == nil {
							break
						}
						if ctx.Err() != nil {
							return
						}
						retries.Add(1)
						if bo.Wait(ctx) != nil {
							return
						}
					}
					now := benchClock.Now().UnixNano()
					if gap := now - lastAck.Swap(now); gap > longest.Load() {
						longest.Store(gap)
					}
					batchesDone.Add(1)
					if sent.Add(int64(b.n)) >= killAt && kill {
						killOnce.Do(func() { close(killed) })
					}
					if next[g]++; next[g] < len(batches[g]) {
						keep = append(keep, g)
					}
				}
				mine = keep
			}
		}()
	}
	uploads := make(chan struct{})
	go func() { pwg.Wait(); close(uploads) }()
	sampleAll := func() {
		for _, p := range procs {
			p.sample()
		}
	}
	if kill {
		select {
		case <-killed:
		case <-uploads:
		}
		victim := len(procs) - 1
		if leader := streamLeader(natsURLs); leader != "" {
			if i, err := strconv.Atoi(strings.TrimPrefix(leader, "edgecentral-")); err == nil && i >= 1 && i <= len(procs) {
				victim = i - 1
			}
		}
		p := procs[victim]
		p.sample()
		res.RSSMiB = append(res.RSSMiB, p.peak) // its peak before the kill
		cpuUsed[p.name] = p.cpu() - p.cpu0
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		res.KilledAt = benchClock.Now().Sub(start).Seconds()
		res.Killed = fmt.Sprintf("edgecentral-%d (stream leader: its NATS node and its receiver) at %d events", victim+1, sent.Load())
		p.peak = 0
		<-benchClock.After(2 * time.Second)
		p.name += "-restart"
		if err := p.start(); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
		p.command("profile-start")
		p.cpu0 = p.cpu()
		res.RestartedAt = benchClock.Now().Sub(start).Seconds()
	}
wait:
	for {
		select {
		case <-uploads:
			break wait
		case <-benchClock.After(500 * time.Millisecond):
			sampleAll()
		}
	}
	res.Seconds = benchClock.Now().Sub(start).Seconds()
	cpuUsed["loadgen"] = procCPUSeconds(os.Getpid()) - loadgen0
	stopLoadgenProfile()
	for _, p := range procs {
		cpuUsed[p.name] = p.cpu() - p.cpu0
		p.command("profile-stop")
	}
	if sent.Load() > 0 {
		for k, v := range cpuUsed {
			res.CPUPerMEvent[k] = math.Round(v/float64(sent.Load())*1e6*100) / 100
		}
	}
	res.EventsPerSec = float64(sent.Load()) / res.Seconds
	res.Batches, res.Retries = batchesDone.Load(), retries.Load()
	res.LongestStall = time.Duration(longest.Load()).Seconds()
	if res.Seconds > res.LongestStall {
		res.EventsPerSecOutsideStall = float64(sent.Load()) / (res.Seconds - res.LongestStall)
	}
	sampleAll()
	for _, p := range procs {
		res.RSSMiB = append(res.RSSMiB, p.peak)
	}
	for _, v := range res.RSSMiB {
		res.PeakRSSMiB = max(res.PeakRSSMiB, v)
	}
	// Read everything back.
	seen := map[[2]uint64]uint8{}
	var readErr error
	if setup == "badger" {
		readErr = readBackHTTP(ctx, cl, procs[0].url, seen, &res.Duplicates)
	} else {
		readErr = readBackStream(ctx, natsURLs, seen, &res.Duplicates)
	}
	if readErr != nil {
		return nil, fmt.Errorf("read back: %w", readErr)
	}
	res.EventsStored = len(seen)
	res.Lost = res.EventsSent - res.EventsStored
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAvg = strings.TrimSpace(string(b))
	}
	return res, nil
}

func streamLeader(urls []string) string {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(2*time.Second))
	if err != nil {
		return ""
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jsstore.StreamEvents)
	if err != nil {
		return ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

func noteEvent(seen map[[2]uint64]uint8, dups *int, epoch, seq uint64) {
	k := [2]uint64{epoch, seq}
	if seen[k] > 0 {
		*dups++
	}
	seen[k]++
}

// readBackStream reads the whole events stream with an ordered consumer.
func readBackStream(ctx context.Context, urls []string, seen map[[2]uint64]uint8, dups *int) error {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	st, err := js.Stream(sctx, jsstore.StreamEvents)
	if err != nil {
		return err
	}
	info, err := st.Info(sctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	cons, err := js.OrderedConsumer(sctx, jsstore.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for last > 0 {
		m, err := it.Next()
		if err != nil {
			return err
		}
		md, _ := m.Metadata()
		if _, err := jsstore.WalkEvents(m.Data(), func(e *wire.Event) error {
			noteEvent(seen, dups, e.Epoch, e.Seq)
			return nil
		}); err != nil {
			return err
		}
		if md.Sequence.Stream >= last {
			return nil
		}
	}
	return nil
}

// readBackHTTP pages through the admin API (the Badger receiver).
func readBackHTTP(ctx context.Context, cl *http.Client, base string, seen map[[2]uint64]uint8, dups *int) error {
	var after uint64
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/admin/events?after=%d&limit=10000", base, after), nil)
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		var page receiver.EventsPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for i := range page.Events {
			e, err := page.Events[i].Decode()
			if err != nil {
				return err
			}
			noteEvent(seen, dups, e.Epoch, e.Seq)
		}
		if len(page.Events) == 0 || page.Next <= after {
			return nil
		}
		after = page.Next
	}
}

// startProfile starts this process's CPU profile in dir/name ("" = none)
// and returns its stop, safe to call twice.
func startProfile(dir, name string) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// profileOnCommand reads stdin lines until EOF: profile-start starts the
// CPU profile into file, profile-stop ends it.
func profileOnCommand(in io.Reader, file string) {
	stop := func() {}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "profile-start":
			if file != "" {
				if st, err := startProfile(filepath.Dir(file), filepath.Base(file)); err == nil {
					stop = st
				}
			}
		case "profile-stop":
			stop()
		}
	}
	stop()
}

// procCPUSeconds is the user+system CPU time of process pid (Linux
// /proc/pid/stat; 0 elsewhere).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}
