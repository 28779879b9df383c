package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
	Setup        string    `json:"setup"` // cluster-r3, embedded-r1, badger
	Gateways     int       `json:"gateways"`
	Nodes        int       `json:"nodes"`
	Receivers    int       `json:"receivers"`
	EventsSent   int       `json:"events_sent"`
	EventsStored int       `json:"events_stored"` // unique, read back
	Lost         int       `json:"lost"`
	Duplicates   int       `json:"duplicates"`
	EventsPerSec float64   `json:"events_per_sec"`
	Seconds      float64   `json:"seconds"`
	Batches      int64     `json:"batches"`
	Retries      int64     `json:"retries"` // answers other than 200 (503, 429, connection refused), each retried
	Killed       string    `json:"killed,omitempty"`
	LongestStall float64   `json:"longest_stall_s"` // longest time without any acknowledged batch
	PeakRSSMiB   float64   `json:"peak_rss_mib"`    // largest single process
	RSSMiB       []float64 `json:"rss_mib"`         // each process's peak (a restarted one: the larger of its runs)
	LoadAvg      string    `json:"loadavg"`
}

func init() {
	var (
		gateways, nodes, perGW, batch, posters int
		kill, asJSON, compare                  bool
		dir                                    string
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
			fs.IntVar(&perGW, "events-per-gateway", 1000, "backlog of each gateway")
			fs.IntVar(&batch, "batch", 250, "events per batch")
			fs.IntVar(&posters, "posters", 48, "concurrent uploads")
			fs.BoolVar(&kill, "kill", false, "SIGKILL the stream leader's process at 40% and restart it")
			fs.BoolVar(&compare, "compare", false, "also run the embedded single node and the Badger receiver")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object per setup")
			fs.StringVar(&dir, "dir", "", "parent directory for the data (default $TMPDIR)")
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
				r, err := runCentralBench(ctx, env, s, gateways, perGW, batch, posters, kill && s == "cluster-r3", dir)
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
	var routes, natsURLs string
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
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			n.ClusterNode = node
			if routes != "" {
				n.Routes = strings.Split(routes, ",")
			}
			if natsURLs != "" {
				n.NATS = strings.Split(natsURLs, ",")
			}
			n.Receiver = receiver.Options{GatewayRate: 1000, GatewayBurst: 2000}
			srv, err := central.Start(n)
			if err != nil {
				return err
			}
			if err := <-srv.Opened(); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "URL %s\n", srv.URL())
			io.Copy(io.Discard, os.Stdin)
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

func runCentralBench(ctx context.Context, env *cli.Env, setup string, gateways, perGW, batchN, posters int, kill bool, parent string) (*centralResult, error) {
	tmp, err := os.MkdirTemp(parent, "edgebench-central-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &centralResult{Setup: setup, Gateways: gateways}
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
		p.Kill() // samples its peak first
		res.Killed = fmt.Sprintf("edgecentral-%d (stream leader: its NATS node and its receiver) at %d events", victim+1, sentAtKill.Load())
		<-benchClock.After(2 * time.Second)
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
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
	res.Seconds = load.Seconds
	res.EventsPerSec = float64(load.Events) / res.Seconds
	res.Batches, res.Retries = load.Batches, load.Retries
	res.LongestStall = load.LongestStall.Seconds()
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
		readErr = centralbench.ReadBack(rctx, natsURLs, &tally)
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
