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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/hostile"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/uplink"
	"github.com/edgegw/edgegw/sync/wire"
)

// hostilePhase is one phase of `edgebench hostile`.
type hostilePhase struct {
	Name        string         `json:"name"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"hostile_requests"`
	Codes       map[string]int `json:"codes"`         // status -> count ("0": no answer)
	WrongCodes  int            `json:"wrong_answers"` // not a 4xx, or 429/503 without Retry-After
	Examples    []string       `json:"wrong_examples,omitempty"`
	PeakRSSMiB  float64        `json:"central_peak_rss_mib"` // sampled VmRSS of edgecentral during the phase
	GoodEvents  int64          `json:"good_events_acked"`    // the good gateway's events acknowledged during the phase
	GoodPerSec  float64        `json:"good_events_per_sec"`
	GoodMaxWait float64        `json:"good_longest_wait_s"` // longest time its cursor did not move
}

// hostileResult is what `edgebench hostile --json` prints.
type hostileResult struct {
	Central       string         `json:"edgecentral"`
	Phases        []hostilePhase `json:"phases"`
	PeakRSSMiB    float64        `json:"central_vmhwm_mib"` // edgecentral's VmHWM over the whole run
	Poison        int            `json:"poison_status"`     // the answer to a year-10000 alert
	BudgetPeak    int64          `json:"budget_peak_bytes"`
	BudgetBytes   int64          `json:"budget_bytes"`
	Refused       map[string]int `json:"refused"` // by error code, from /v1/admin/stats
	GoodState     string         `json:"good_gateway_state"`
	GoodLastError string         `json:"good_gateway_last_error"`
	GoodBacklog   uint64         `json:"good_gateway_backlog_end"`
	GoodGenerated uint64         `json:"good_events_generated"`
}

func init() {
	var (
		central, dir, centralLog      string
		forgedClients, bombClients    int
		forgedMiB                     int
		forgedFor, bombsFor, quietFor time.Duration
		goodRate                      float64
		asJSON                        bool
	)
	app.Register(&cli.Command{
		Name:  "hostile",
		Short: "a real edgecentral serve under hostile clients, with a good gateway syncing through it (RSS, status codes, progress)",
		Usage: `Starts a real 'edgecentral serve' (--edgecentral, or built from this
module) with its defaults on a temp data dir, and a good gateway: the real
store, the simulated compound at --good-rate events/s and the real uplink.
Then, phase by phase:

  quiet    the good gateway alone
  forged   --forged-clients concurrent clients post forged --forged-mib MiB
           bodies in the good gateway's name (half of them without the body
           digest header, so the server must read them to refuse them)
  bombs    --bomb-clients concurrent clients post, with the key of another
           gateway: a 1 GiB gzip bomb, a bomb whose trailer lies, and a
           batch of 300,000 minimal events (1.8 MB of JSON that costs about
           90 MB to decode)
  after    the good gateway alone again

and one poison batch (an alert stamped year 10000 by a trusted clock).
For each phase it prints the status codes the hostile requests got (every
one must be a 4xx; 429/503 with Retry-After), edgecentral's peak RSS, and the
good gateway's acknowledged events and longest wait.

Target: edgecentral under 128 MiB peak RSS, no 5xx but 503, the good gateway
never stops syncing.

Example:
  edgebench hostile --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&central, "edgecentral", "", "the edgecentral binary (default: next to this one, else go build ./cmd/edgecentral)")
			fs.StringVar(&dir, "dir", "", "parent directory for the temp stores (default $TMPDIR)")
			fs.StringVar(&centralLog, "central-log", "", "write edgecentral's log to this file (default: discarded)")
			fs.IntVar(&forgedClients, "forged-clients", 300, "concurrent clients sending forged bodies")
			fs.IntVar(&forgedMiB, "forged-mib", 4, "size of each forged body, MiB")
			fs.IntVar(&bombClients, "bomb-clients", 12, "concurrent clients sending gzip bombs")
			fs.DurationVar(&forgedFor, "forged-for", 20*time.Second, "length of the forged phase")
			fs.DurationVar(&bombsFor, "bombs-for", 15*time.Second, "length of the bombs phase")
			fs.DurationVar(&quietFor, "quiet-for", 5*time.Second, "length of the quiet phases before and after")
			fs.Float64Var(&goodRate, "good-rate", 2000, "events/s of the good gateway's simulated compound")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			r, err := runHostile(ctx, env, hostileConfig{central: central, dir: dir, centralLog: centralLog, forgedClients: forgedClients, forgedBytes: forgedMiB << 20,
				bombClients: bombClients, forgedFor: forgedFor, bombsFor: bombsFor, quietFor: quietFor, goodRate: goodRate})
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(env.Stdout, string(b))
				return nil
			}
			for _, p := range r.Phases {
				fmt.Fprintf(env.Stdout, "%-7s %5.1fs  hostile %5d requests %v (%d wrong)  edgecentral peak %5.1f MiB  good gateway %6d events (%5.0f/s), longest wait %.1fs\n",
					p.Name, p.Seconds, p.Requests, p.Codes, p.WrongCodes, p.PeakRSSMiB, p.GoodEvents, p.GoodPerSec, p.GoodMaxWait)
			}
			fmt.Fprintf(env.Stdout, "edgecentral VmHWM %.1f MiB; memory budget peak %d of %d bytes; poison batch: %d; refused %v\n",
				r.PeakRSSMiB, r.BudgetPeak, r.BudgetBytes, r.Poison, r.Refused)
			fmt.Fprintf(env.Stdout, "good gateway: %d events generated, backlog %d at the end, state %s, last error %q\n", r.GoodGenerated, r.GoodBacklog, r.GoodState, r.GoodLastError)
			return nil
		},
	})
}

type hostileConfig struct {
	central, dir, centralLog      string
	forgedClients, forgedBytes    int
	bombClients                   int
	forgedFor, bombsFor, quietFor time.Duration
	goodRate                      float64
}

// findEdgecentral returns the edgecentral binary to run: the one given,
// the one next to this binary, or one built from this module into tmp.
func findEdgecentral(given, tmp string) (string, error) {
	if given != "" {
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "edgecentral"); fileExists(p) {
			return p, nil
		}
	}
	out := filepath.Join(tmp, "edgecentral")
	if b, err := exec.Command("go", "build", "-o", out, "github.com/edgegw/edgegw/cmd/edgecentral").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build edgecentral (or give --edgecentral): %v\n%s", err, b)
	}
	return out, nil
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

func runHostile(ctx context.Context, env *cli.Env, c hostileConfig) (*hostileResult, error) {
	tmp, err := os.MkdirTemp(c.dir, "edgebench-hostile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin, err := findEdgecentral(c.central, tmp)
	if err != nil {
		return nil, err
	}
	res := &hostileResult{Central: bin}

	// The central platform's store, with the two gateways.
	data := filepath.Join(tmp, "central")
	st, err := receiver.OpenBadger(data, nil)
	if err != nil {
		return nil, err
	}
	goodKey, err1 := receiver.AddGateway(st, "good", time.Now())
	evilKey, err2 := receiver.AddGateway(st, "evil", time.Now())
	poisonKey, err3 := receiver.AddGateway(st, "poisoner", time.Now())
	st.Close()
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}

	// edgecentral serve, a child process with its defaults.
	child := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn")
	stdout, err := child.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logPath := c.centralLog
	if logPath == "" {
		logPath = filepath.Join(tmp, "central.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	child.Stderr = logf
	if err := child.Start(); err != nil {
		return nil, err
	}
	defer func() {
		child.Process.Signal(os.Interrupt)
		child.Wait()
	}()
	url, err := serveURL(stdout)
	if err != nil {
		return nil, fmt.Errorf("edgecentral serve: %w", err)
	}
	pid := child.Process.Pid

	// The good gateway, a child process of its own (as on a real site: it
	// must not share a CPU scheduler with the attack's clients).
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	gw := exec.CommandContext(ctx, exe, "hostile-gateway", "--url", url, "--key", goodKey.String(),
		"--dir", filepath.Join(tmp, "gateway"), "--rate", fmt.Sprint(c.goodRate))
	gw.Stderr = env.Stderr
	gwIn, err := gw.StdinPipe()
	if err != nil {
		return nil, err
	}
	gwOut, err := gw.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := gw.Start(); err != nil {
		return nil, err
	}
	gwDone := false
	defer func() {
		if !gwDone {
			gwIn.Close()
			gw.Wait()
		}
	}()

	// Samplers: edgecentral's RSS, and the good gateway's events it stored.
	var rssMax atomic.Int64 // kB since the phase began
	var stored atomic.Int64
	var longestWait atomic.Int64 // ns, since the phase began
	sctx, stopSample := context.WithCancel(ctx)
	defer stopSample()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			if kb := int64(procMiB(pid, "VmRSS:") * 1024); kb > rssMax.Load() {
				rssMax.Store(kb)
			}
		}
	}()
	go func() {
		ac := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		lastN, lastMove := int64(-1), time.Now()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			n, err := goodEvents(ac, url)
			now := time.Now()
			if err == nil && n != lastN {
				lastN, lastMove = n, now
				stored.Store(n)
			}
			if w := int64(now.Sub(lastMove)); w > longestWait.Load() {
				longestWait.Store(w)
			}
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.forgedClients + c.bombClients, ExpectContinueTimeout: 5 * time.Second}, Timeout: time.Minute}
	phase := func(name string, d time.Duration, flood func(ctx context.Context, t *hostile.Tally)) {
		rssMax.Store(0)
		longestWait.Store(0)
		before := stored.Load()
		t := hostile.NewTally()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, d)
		if flood != nil {
			flood(pctx, t)
		}
		<-pctx.Done()
		cancel()
		secs := time.Since(start).Seconds()
		p := hostilePhase{Name: name, Seconds: secs, Codes: map[string]int{}, PeakRSSMiB: float64(rssMax.Load()) / 1024,
			GoodEvents: stored.Load() - before, GoodMaxWait: time.Duration(longestWait.Load()).Seconds()}
		p.GoodPerSec = float64(p.GoodEvents) / secs
		for code, n := range t.Codes() {
			k := fmt.Sprint(code)
			if code == hostile.HungUp {
				k = "hung-up"
			}
			p.Codes[k] = n
			p.Requests += n
		}
		p.WrongCodes, p.Examples = t.Problems()
		res.Phases = append(res.Phases, p)
		fmt.Fprintf(env.Stderr, "hostile: phase %s done: %v, edgecentral peak %.1f MiB, good gateway +%d events\n", name, t, p.PeakRSSMiB, p.GoodEvents)
	}

	// Let the good gateway reach its pace, then the phases.
	for stored.Load() == 0 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	phase("quiet", c.quietFor, nil)
	other, _ := wire.NewKey()
	forged := hostile.Garbage(c.forgedBytes)
	phase("forged", c.forgedFor, func(ctx context.Context, t *hostile.Tally) {
		hostile.Flood(ctx, client, url, c.forgedClients, t, func(w, i int) (hostile.Request, bool) {
			// A quarter each: with or without the digest header, sending
			// the body at once or after 100-continue.
			return hostile.Request{Gateway: "good", Key: other, Body: forged, NoDigest: w%2 == 0, Continue: w%4 >= 2}, true
		}, time.Now)
	})
	bombs := [][]byte{hostile.Bomb(1<<30, 0), hostile.Bomb(256<<20, 15<<20), hostile.Costly(300000)}
	phase("bombs", c.bombsFor, func(ctx context.Context, t *hostile.Tally) {
		hostile.Flood(ctx, client, url, c.bombClients, t, func(w, i int) (hostile.Request, bool) {
			return hostile.Request{Gateway: "evil", Key: evilKey, Body: bombs[(w+i)%len(bombs)]}, true
		}, time.Now)
	})
	res.Poison, _, _ = hostile.Send(ctx, client, url, hostile.Request{Gateway: "poisoner", Key: poisonKey, Body: hostile.Poison(9, time.Now())}, time.Now())
	phase("after", c.quietFor, nil)

	res.PeakRSSMiB = peakRSSMiB(pid)
	var stats receiver.Stats
	if resp, err := http.Get(url + "/v1/admin/stats"); err == nil {
		json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
	}
	res.BudgetPeak, res.BudgetBytes = stats.BudgetPeak, stats.BudgetBytes
	res.Refused = map[string]int{}
	for k, v := range stats.Refused {
		res.Refused[k] = int(v)
	}
	gwIn.Close() // the good gateway prints its uplink status and exits
	var us edge.SyncStatus
	json.NewDecoder(gwOut).Decode(&us)
	gw.Wait()
	gwDone = true
	res.GoodState, res.GoodBacklog, res.GoodLastError = us.State, us.BacklogEvents, us.LastError
	res.GoodGenerated = uint64(stored.Load()) + us.BacklogEvents
	return res, nil
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

// serveURL reads edgecentral serve's stdout until it says where it listens,
// and drains the rest.
func serveURL(stdout io.Reader) (string, error) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1], nil
		}
	}
	return "", fmt.Errorf("exited before listening: %v", sc.Err())
}

// goodEvents asks edgecentral's admin API how many events gateway "good"
// has stored.
func goodEvents(c *http.Client, url string) (int64, error) {
	resp, err := c.Get(url + "/v1/admin/gateways")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var page struct {
		Gateways []receiver.GatewayStatus `json:"gateways"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, err
	}
	for _, g := range page.Gateways {
		if g.ID == "good" {
			return int64(g.Events), nil
		}
	}
	return 0, errors.New("no gateway good")
}

func init() {
	var url, key, dir string
	var rate float64
	app.Register(&cli.Command{
		Name:  "hostile-gateway",
		Short: "internal: the good gateway of 'edgebench hostile'",
		Usage: "Runs the store in --dir, the simulated compound at --rate events/s and the uplink to --url as gateway good with --key, until stdin closes; then prints the uplink's status as JSON.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&url, "url", "", "edgecentral URL")
			fs.StringVar(&key, "key", "", "the gateway's key")
			fs.StringVar(&dir, "dir", "", "store directory")
			fs.Float64Var(&rate, "rate", 2000, "simulated events per second")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return runHostileGateway(ctx, env, url, key, dir, rate)
		},
	})
}

func runHostileGateway(ctx context.Context, env *cli.Env, url, key, dir string, rate float64) error {
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer st.Close()
	up, err := uplink.New(uplink.Options{
		Config: config.Uplink{URL: url, Key: key, MaxEvents: 1000, MaxAge: config.Duration(200 * time.Millisecond),
			Timeout: config.Duration(10 * time.Second), RetryWaitMin: config.Duration(100 * time.Millisecond),
			RetryWaitMax: config.Duration(2 * time.Second), RetryAfterCap: config.Duration(2 * time.Second),
			PollInterval: config.Duration(5 * time.Second), HeartbeatInterval: config.Duration(5 * time.Second)},
		GatewayID: "good", Log: st, State: st, Logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	drv, err := sim.NewDriver(edge.Env{Name: "sim", Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, sim.Options{Seed: 1, Rate: rate})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); up.Run(ctx) }()
	go func() {
		defer wg.Done()
		drv.Run(ctx, edge.SinkFunc(func(ev edge.Event) error { return st.AppendAsync(ev, nil) }))
	}()
	io.Copy(io.Discard, env.Stdin) // until the parent closes stdin
	stop()
	wg.Wait()
	return json.NewEncoder(env.Stdout).Encode(up.Status())
}
