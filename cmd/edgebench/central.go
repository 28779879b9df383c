package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/central"
	"github.com/edgegw/edgegw/internal/centralbench"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
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
	KilledAt     float64   `json:"killed_at_s,omitempty"`
	RestartedAt  float64   `json:"restarted_at_s,omitempty"`
	LongestStall float64   `json:"longest_stall_s"` // longest time without any acknowledged batch
	PeakRSSMiB   float64   `json:"peak_rss_mib"`    // largest single process
	RSSMiB       []float64 `json:"rss_mib"`         // each process's peak (a restarted one: the larger of its runs)
	// EventsPerSecOutsideStall is events_per_sec with the longest stall
	// (the leader election after the kill) taken out of the time.
	EventsPerSecOutsideStall float64 `json:"events_per_sec_outside_stall"`
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
		kill, asJSON, compare, nodeLogs        bool
		dir, profDir, natsSync                 string
		budget                                 int64
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
			fs.StringVar(&profDir, "cpuprofile", "", "write CPU profiles of the upload phase to `dir`: <setup>-loadgen.pprof and <setup>-node<N>.pprof per process (a restarted one overwrites its killed run's)")
			fs.StringVar(&natsSync, "nats-sync", "always", "the NATS nodes' fsync: always, or an interval such as 1s (edgecentral serve --nats-sync)")
			fs.Int64Var(&budget, "memory-budget", 0, "each receiver's memory budget in bytes (0: receiver.DefaultMemoryBudget)")
			fs.BoolVar(&nodeLogs, "node-log", false, "the central processes log to stderr")
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
				r, err := runCentralBench(ctx, env, s, gateways, perGW, batch, posters, kill && s == "cluster-r3", dir,
					nodeOptions{profDir: profDir, natsSync: natsSync, budget: budget, log: nodeLogs})
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
			fs.StringVar(&nodeProfile, "cpuprofile", "", "CPU profile `file`, written between the lines profile-start and profile-stop on stdin")
			fs.DurationVar(&nodeSync, "nats-sync", 0, "fsync interval of the NATS node (0: always)")
			fs.Int64Var(&nodeBudget, "memory-budget", 0, "the receiver's memory budget in bytes (0: its default)")
			fs.BoolVar(&nodeLog, "log", false, "log (info and up) to stderr")
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

// benchClock is the wall clock the central benchmark measures and waits on.
var benchClock edge.Clock = edge.SystemClock{}

// centralNode is one edgecentral process of the benchmark: this binary's
// central-node command.
func centralNode(args ...string) *centralbench.Proc {
	return &centralbench.Proc{Name: "central-node " + strings.Join(args, " "), Path: os.Args[0],
		Args: append([]string{"central-node"}, args...), Ready: regexp.MustCompile(`^URL (\S+)`),
		Output: os.Stderr, Timeout: 2 * time.Minute, Clock: benchClock}
}

// nodeOptions are the benchmark's flags passed on to its central processes.
type nodeOptions struct {
	profDir, natsSync string
	budget            int64
	log               bool
}

func runCentralBench(ctx context.Context, env *cli.Env, setup string, gateways, perGW, batchN, posters int, kill bool, parent string, no nodeOptions) (*centralResult, error) {
	tmp, err := os.MkdirTemp(parent, "edgebench-central-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &centralResult{Setup: setup, Gateways: gateways, BatchEvents: batchN}
	var procs []*centralbench.Proc
	var natsURLs []string
	switch setup {
	case "cluster-r3":
		ports, err := centralbench.FreePorts(6)
		if err != nil {
			return nil, err
		}
		var routes []string
		for i := range 3 {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
			natsURLs = append(natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		}
		for i := range 3 {
			procs = append(procs, centralNode("--data", filepath.Join(tmp, fmt.Sprint("n", i+1)),
				"--node", strconv.Itoa(i+1), "--routes", strings.Join(routes, ","),
				"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "--nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[i])))
		}
	case "embedded-r1":
		ports, err := centralbench.FreePorts(1)
		if err != nil {
			return nil, err
		}
		natsURLs = []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0])}
		procs = []*centralbench.Proc{centralNode("--data", filepath.Join(tmp, "n1"), "--store", "jetstream", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[0]))}
	case "badger":
		procs = []*centralbench.Proc{centralNode("--data", filepath.Join(tmp, "badger"), "--store", "badger")}
	}
	res.Nodes, res.Receivers = len(procs), len(procs)
	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = fmt.Sprintf("%s-node%d", setup, i+1)
		if no.profDir != "" {
			if err := os.MkdirAll(no.profDir, 0o755); err != nil {
				return nil, err
			}
			p.Args = append(p.Args, "--cpuprofile", filepath.Join(no.profDir, names[i]+".pprof"))
		}
		if no.log {
			p.Args = append(p.Args, "--log")
		}
		if no.budget > 0 {
			p.Args = append(p.Args, "--memory-budget", strconv.FormatInt(no.budget, 10))
		}
		if setup != "badger" && no.natsSync != "" && no.natsSync != "always" {
			p.Args = append(p.Args, "--nats-sync", no.natsSync)
		}
	}
	if setup != "badger" {
		res.NATSSync = no.natsSync
	}
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.Start() }()
	}
	wg.Wait()
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: posters}}

	// Register the gateways (place: 4 streets x 5 committees x compounds)
	// and pre-encode every batch: each gateway has its epoch and a backlog.
	gws, err := centralbench.Gateways(gateways, perGW, batchN, benchClock.Now().Add(-time.Hour).Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	if err := centralbench.Register(ctx, cl, procs[0].URL(), gws, benchClock); err != nil {
		return nil, err
	}
	for i := range gws {
		res.EventsSent += gws[i].Events()
	}
	// Upload: each poster takes its share of the gateways, one batch of
	// each in turn (a gateway uploads one batch at a time).
	killAt := int64(res.EventsSent) * 4 / 10
	killed := make(chan struct{})
	var killOnce sync.Once
	var sentAtKill atomic.Int64
	// The measured phase: CPU per process from here to the last answer.
	cpuUsed := map[string]float64{}
	cpu0 := make([]float64, len(procs))
	stopLoadgenProfile, err := startProfile(no.profDir, setup+"-loadgen.pprof")
	if err != nil {
		return nil, err
	}
	defer stopLoadgenProfile()
	loadgen0 := procCPUSeconds(os.Getpid())
	for i, p := range procs {
		p.Send("profile-start")
		cpu0[i] = procCPUSeconds(p.Pid())
	}
	start := benchClock.Now()
	uploads := make(chan struct{})
	var load *centralbench.LoadResult
	var loadErr error
	go func() {
		defer close(uploads)
		load, loadErr = centralbench.Upload(ctx, centralbench.Load{Gateways: gws, Posters: posters, Client: cl, Clock: benchClock,
			URL: func(i int) string { return procs[i%len(procs)].URL() },
			OnAck: func(n int64) {
				if n >= killAt && kill {
					killOnce.Do(func() { sentAtKill.Store(n); close(killed) })
				}
			}})
	}()
	sampleAll := func() {
		for _, p := range procs {
			p.Sample()
		}
	}
	if kill {
		select {
		case <-killed:
		case <-uploads:
		}
		victim := len(procs) - 1
		if leader := centralbench.StreamLeader(natsURLs); leader != "" {
			if i, err := strconv.Atoi(strings.TrimPrefix(leader, "edgecentral-")); err == nil && i >= 1 && i <= len(procs) {
				victim = i - 1
			}
		}
		p := procs[victim]
		cpuUsed[names[victim]] = procCPUSeconds(p.Pid()) - cpu0[victim]
		p.Kill() // samples its peak first
		res.KilledAt = benchClock.Now().Sub(start).Seconds()
		res.Killed = fmt.Sprintf("edgecentral-%d (stream leader: its NATS node and its receiver) at %d events", victim+1, sentAtKill.Load())
		<-benchClock.After(2 * time.Second)
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
		names[victim] += "-restart"
		p.Send("profile-start")
		cpu0[victim] = procCPUSeconds(p.Pid())
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
	if loadErr != nil {
		return nil, loadErr
	}
	cpuUsed["loadgen"] = procCPUSeconds(os.Getpid()) - loadgen0
	stopLoadgenProfile()
	for i, p := range procs {
		cpuUsed[names[i]] = procCPUSeconds(p.Pid()) - cpu0[i]
		p.Send("profile-stop")
	}
	if load.Events > 0 {
		res.CPUPerMEvent = map[string]float64{}
		for k, v := range cpuUsed {
			res.CPUPerMEvent[k] = math.Round(v/float64(load.Events)*1e6*100) / 100
		}
	}
	res.Seconds = load.Seconds
	res.EventsPerSec = float64(load.Events) / res.Seconds
	res.Batches, res.Retries = load.Batches, load.Retries
	res.LongestStall = load.LongestStall.Seconds()
	if res.Seconds > res.LongestStall {
		res.EventsPerSecOutsideStall = float64(load.Events) / (res.Seconds - res.LongestStall)
	}
	for _, p := range procs {
		res.RSSMiB = append(res.RSSMiB, p.Sample()) // a restarted one: the larger of its runs
	}
	for _, v := range res.RSSMiB {
		res.PeakRSSMiB = max(res.PeakRSSMiB, v)
	}
	// Read everything back.
	var tally centralbench.Tally
	var readErr error
	if setup == "badger" {
		readErr = readBackHTTP(ctx, cl, procs[0].URL(), &tally)
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		readErr = centralbench.ReadBack(rctx, edge.SystemClock{}, natsURLs, &tally)
		cancel()
	}
	if readErr != nil {
		return nil, fmt.Errorf("read back: %w", readErr)
	}
	res.EventsStored, res.Duplicates = len(tally.Seen), tally.Duplicates
	res.Lost = res.EventsSent - res.EventsStored
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAvg = strings.TrimSpace(string(b))
	}
	return res, nil
}

// readBackHTTP pages through the admin API (the Badger receiver).
func readBackHTTP(ctx context.Context, cl *http.Client, base string, tally *centralbench.Tally) error {
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
			tally.Note(e.Epoch, e.Seq)
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
