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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/centralbench"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/uplink"
	"github.com/edgegw/edgegw/sync/wire"
)

// syncResult is what `edgebench sync --json` prints.
type syncResult struct {
	Events            int     `json:"events"`
	Readings          int     `json:"readings"` // of which KindReading
	MaxEvents         int     `json:"max_events"`
	Batches           int64   `json:"batches"`
	FillSec           float64 `json:"fill_s"`
	DrainSec          float64 `json:"drain_s"`
	DrainPerSec       float64 `json:"drain_events_per_sec"`
	BodyBytes         int64   `json:"wire_body_bytes"`       // gzip batch bodies
	TCPBytesUp        int64   `json:"wire_tcp_bytes_up"`     // everything the gateway wrote to TCP (headers included)
	TCPBytesDown      int64   `json:"wire_tcp_bytes_down"`   // everything it read
	BytesPerEvent     float64 `json:"wire_bytes_per_event"`  // body bytes / events
	TCPBytesPerEvent  float64 `json:"tcp_bytes_per_event"`   // TCP bytes up / events
	JSONLinesBytes    int64   `json:"json_lines_bytes"`      // the same events as uncompressed JSON lines
	RatioToJSONLines  float64 `json:"ratio_to_json_lines"`   // body bytes / JSON-lines bytes
	IngestEvents      int     `json:"ingest_events"`         // receiver-only phase
	IngestPerSec      float64 `json:"ingest_events_per_sec"` // pre-encoded batches, 4 concurrent posters
	GatewayPeakRSSMiB float64 `json:"gateway_peak_rss_mib"`  // this process during the drain (VmHWM reset after the fill)
	ReceiverRSSDrain  float64 `json:"receiver_peak_rss_mib_drain"`
	ReceiverRSSIngest float64 `json:"receiver_peak_rss_mib_ingest"`
	// Current RSS at the end of the drain, split into anonymous memory (the
	// heap) and file-backed pages (Badger's memory-mapped tables, which the
	// kernel may drop at will).
	GatewayAnonMiB  float64 `json:"gateway_rss_anon_mib"`
	GatewayFileMiB  float64 `json:"gateway_rss_file_mib"`
	ReceiverAnonMiB float64 `json:"receiver_rss_anon_mib"`
	ReceiverFileMiB float64 `json:"receiver_rss_file_mib"`
}

func init() {
	var (
		events, maxEvents, posters int
		asJSON                     bool
		dir, cpuProfile            string
	)
	app.Register(&cli.Command{
		Name:  "sync",
		Short: "drain a backlog to a receiver child process over loopback (events/s, bytes per reading, RSS)",
		Usage: `Fills a gateway store in a temp dir with --events simulated compound events
(the sim driver), starts the reference receiver (embedded Badger, fsynced
before it acknowledges) as a child process on 127.0.0.1, and drains the
backlog through the real uplink: signed, gzipped columnar batches, the
cursor moved after each acknowledgement.

Then it measures the receiver alone: the same events, pre-encoded as
batches under a new epoch (so nothing is a duplicate), posted by 4
concurrent clients.

Prints drain_events_per_sec, wire_bytes_per_event (gzip bodies),
tcp_bytes_per_event (all bytes the gateway wrote), ratio_to_json_lines (the
bodies against the same events as uncompressed JSON lines), ingest_events_per_sec,
and peak RSS (VmHWM) of this process during the drain and of the receiver.

Targets: drain >= 100,000 events/s, <= 20 B per reading on the wire,
receiver ingest >= 200,000 events/s, peak RSS <= 96 MiB per process.

Example:
  edgebench sync --events 1000000 --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&events, "events", 1_000_000, "events in the backlog")
			fs.IntVar(&maxEvents, "max-events", config.DefaultUplinkMaxEvents, "uplink max_events per batch")
			fs.IntVar(&posters, "posters", 4, "concurrent clients in the ingest phase")
			fs.StringVar(&dir, "dir", "", "parent directory for the temp stores (default $TMPDIR)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the drain to `file`")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			r, err := runSyncBench(ctx, env, events, maxEvents, posters, dir, cpuProfile)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(env.Stdout, string(b))
				return nil
			}
			fmt.Fprintf(env.Stdout, "drain: %d events in %.2fs = %.0f events/s (%d batches of up to %d)\n", r.Events, r.DrainSec, r.DrainPerSec, r.Batches, r.MaxEvents)
			fmt.Fprintf(env.Stdout, "wire: %.2f B/event in gzip bodies, %.2f B/event on TCP; %.4f of %d B of JSON lines\n", r.BytesPerEvent, r.TCPBytesPerEvent, r.RatioToJSONLines, r.JSONLinesBytes)
			fmt.Fprintf(env.Stdout, "receiver ingest: %.0f events/s (%d posters)\n", r.IngestPerSec, posters)
			fmt.Fprintf(env.Stdout, "peak RSS: gateway %.1f MiB during the drain; receiver %.1f MiB after the drain, %.1f MiB after ingest\n", r.GatewayPeakRSSMiB, r.ReceiverRSSDrain, r.ReceiverRSSIngest)
			return nil
		},
	})

	// The receiver child of `edgebench sync`.
	var rdir, rkey string
	app.Register(&cli.Command{
		Name:  "sync-receiver",
		Short: "internal: the receiver child process of 'edgebench sync'",
		Usage: "Runs the reference receiver over Badger in --dir on 127.0.0.1, with gateway bench keyed --key; prints its address and serves until stdin closes.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&rdir, "dir", "", "Badger directory")
			fs.StringVar(&rkey, "key", "", "key of gateway 'bench' (hex)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			return runSyncReceiver(env, rdir, rkey)
		},
	})
}

func runSyncReceiver(env *cli.Env, dir, keyHex string) error {
	receiver.ApplyMemoryLimit() // as `edgecentral serve` does
	key, err := wire.ParseKey(keyHex)
	if err != nil {
		return err
	}
	st, err := receiver.OpenBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	// "bench" drains through the uplink; the ingest phase's posters are a
	// gateway each, as concurrent batches come from many gateways (one
	// gateway's requests in flight may hold half the memory budget).
	for _, id := range []string{"bench", "bench-0", "bench-1", "bench-2", "bench-3", "bench-4", "bench-5", "bench-6", "bench-7"} {
		if err := st.AddGateway(receiver.Gateway{ID: id, Key: key, Created: time.Now().UTC()}); err != nil && !errors.Is(err, receiver.ErrExists) {
			return err
		}
	}
	// The ingest phase measures what the receiver can store: its posters
	// send faster than a gateway does, past the default per-gateway rate
	// limit (100 requests/s).
	rcv, err := receiver.New(receiver.Options{Store: st, GatewayRate: 1e6, GatewayBurst: 1e6})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintln(env.Stdout, ln.Addr().String())
	io.Copy(io.Discard, env.Stdin) // until the parent closes stdin
	srv.Close()
	return nil
}

// countingConn counts the bytes a connection moves.
type countingConn struct {
	net.Conn
	up, down *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.down.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.up.Add(int64(n))
	return n, err
}

// countingRT counts batch requests and their body bytes.
type countingRT struct {
	rt             http.RoundTripper
	batches, bytes atomic.Int64
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == wire.PathBatches {
		c.batches.Add(1)
		c.bytes.Add(r.ContentLength)
	}
	return c.rt.RoundTrip(r)
}

func runSyncBench(ctx context.Context, env *cli.Env, events, maxEvents, posters int, parent, cpuProfile string) (*syncResult, error) {
	tmp, err := os.MkdirTemp(parent, "edgebench-sync-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &syncResult{Events: events, MaxEvents: maxEvents}

	// 1. The backlog: the simulated compound, as fast as the store takes it.
	st, err := store.Open(store.Options{Dir: filepath.Join(tmp, "gateway")})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	t0 := time.Now()
	drv, err := sim.NewDriver(edge.Env{Name: "sim", Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}},
		sim.Options{Seed: 1, Unlimited: true, Buildings: 4, Units: 4, Households: 6})
	if err != nil {
		return nil, err
	}
	fillCtx, stopFill := context.WithCancel(ctx)
	var fillErr error
	var fillWG sync.WaitGroup
	fillWG.Add(1)
	go func() {
		defer fillWG.Done()
		var n atomic.Int64
		drv.Run(fillCtx, edge.SinkFunc(func(ev edge.Event) error {
			if n.Add(1) > int64(events) {
				stopFill()
				return nil
			}
			if err := st.AppendAsync(ev, nil); err != nil {
				fillErr = err
				stopFill()
			}
			return nil
		}))
	}()
	for st.LastSeq() < uint64(events) && fillCtx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	stopFill()
	fillWG.Wait()
	if fillErr != nil {
		return nil, fmt.Errorf("fill: %w", fillErr)
	}
	for st.LastSeq() < uint64(events) {
		<-st.Wait(st.LastSeq())
	}
	res.FillSec = time.Since(t0).Seconds()

	// 2. The receiver, a child process.
	key, err := wire.NewKey()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	child := exec.CommandContext(ctx, exe, "sync-receiver", "--dir", filepath.Join(tmp, "central"), "--key", key.String())
	child.Stderr = env.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := child.Start(); err != nil {
		return nil, err
	}
	defer func() { stdin.Close(); child.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("receiver child: %w", err)
	}
	addr = strings.TrimSpace(addr)

	// 3. The drain, through the real uplink.
	var up, down atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	crt := &countingRT{rt: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, up: &up, down: &down}, nil
		},
		MaxIdleConnsPerHost: 4,
	}}
	u, err := uplink.New(uplink.Options{
		Config: config.Uplink{URL: "http://" + addr, Key: key.String(), MaxEvents: maxEvents, MaxBytes: 16 << 20,
			PollInterval: config.Duration(time.Hour), HeartbeatInterval: config.Duration(time.Hour)},
		GatewayID: "bench", Log: st, State: st, Logger: edge.DiscardLogger(), Transport: crt,
	})
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	upCtx, stopUp := context.WithCancel(ctx)
	defer stopUp()
	var upWG sync.WaitGroup
	upWG.Add(1)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	t1 := time.Now()
	go func() {
		defer upWG.Done()
		u.Run(upCtx)
	}()
	target := st.LastSeq() + 1
	for {
		c, err := st.Cursor(edge.CursorUplink)
		if err != nil {
			stopUp()
			return nil, err
		}
		if c >= target {
			break
		}
		if ctx.Err() != nil {
			stopUp()
			return nil, ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.DrainSec = time.Since(t1).Seconds()
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	stopUp()
	upWG.Wait()
	res.GatewayPeakRSSMiB = peakRSSMiB(os.Getpid())
	res.ReceiverRSSDrain = peakRSSMiB(child.Process.Pid)
	res.GatewayAnonMiB, res.GatewayFileMiB = procMiB(os.Getpid(), "RssAnon:"), procMiB(os.Getpid(), "RssFile:")
	res.ReceiverAnonMiB, res.ReceiverFileMiB = procMiB(child.Process.Pid, "RssAnon:"), procMiB(child.Process.Pid, "RssFile:")
	res.DrainPerSec = float64(events) / res.DrainSec
	res.Batches = crt.batches.Load()
	res.BodyBytes = crt.bytes.Load()
	res.TCPBytesUp, res.TCPBytesDown = up.Load(), down.Load()
	res.BytesPerEvent = float64(res.BodyBytes) / float64(events)
	res.TCPBytesPerEvent = float64(res.TCPBytesUp) / float64(events)

	// 4. The same events as JSON lines, and as pre-encoded batches for the
	// receiver-only phase (under a new epoch: no duplicates).
	var batches [][]byte
	var batchN []int
	for next := uint64(1); ; {
		evs, err := st.Read(next, maxEvents)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		ws := make([]wire.Event, len(evs))
		for i := range evs {
			line, _ := json.Marshal(&evs[i])
			res.JSONLinesBytes += int64(len(line) + 1)
			if evs[i].Kind == edge.KindReading {
				res.Readings++
			}
			ws[i] = toWireEvent(&evs[i])
			ws[i].Epoch++
		}
		body, err := wire.GzipBatch(ws)
		if err != nil {
			return nil, err
		}
		batches = append(batches, body)
		batchN = append(batchN, len(ws))
		next = evs[len(evs)-1].Seq + 1
	}
	res.RatioToJSONLines = float64(res.BodyBytes) / float64(res.JSONLinesBytes)

	// 5. Receiver ingest: posters send the batches as fast as it acks.
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: posters}, Timeout: time.Minute}
	var nextBatch atomic.Int64
	var ingestErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	t2 := time.Now()
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(nextBatch.Add(1) - 1)
				if i >= len(batches) {
					return
				}
				if err := postBatch(ctx, cl, "http://"+addr, fmt.Sprintf("bench-%d", p%8), key, batches[i]); err != nil {
					errOnce.Do(func() { ingestErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if ingestErr != nil {
		return nil, fmt.Errorf("ingest: %w", ingestErr)
	}
	for _, n := range batchN {
		res.IngestEvents += n
	}
	res.IngestPerSec = float64(res.IngestEvents) / time.Since(t2).Seconds()
	res.ReceiverRSSIngest = peakRSSMiB(child.Process.Pid)
	return res, nil
}

func postBatch(ctx context.Context, cl *http.Client, base, gateway string, key wire.Key, body []byte) error {
	return centralbench.PostBatch(ctx, cl, base, gateway, key, body, benchClock.Now())
}

// toWireEvent is the uplink's conversion (repeated here: the benchmark
// pre-encodes batches without an uplink).
func toWireEvent(e *edge.Event) wire.Event {
	w := wire.Event{Epoch: e.Epoch, Seq: e.Seq, Time: e.Time, ClockTrusted: e.ClockTrusted, Kind: e.Kind.String(),
		Priority: uint8(e.Priority), Device: e.Device, Point: e.Point, Value: e.Value, Unit: e.Unit,
		Quality: uint8(e.Quality), Text: e.Text, Location: e.Location, Online: e.Online}
	if a := e.Alert; a != nil {
		w.Alert = &wire.Alert{ID: a.ID, Rule: a.Rule, State: string(a.State), Severity: a.Severity, Message: a.Message, By: a.By, Cause: a.Cause}
	}
	if g := e.Gap; g != nil {
		w.Gap = &wire.Gap{Epoch: g.Epoch, From: g.From, To: g.To, Count: g.Count, Reason: g.Reason}
	}
	if a := e.Action; a != nil {
		w.Action = &wire.Action{Rule: a.Rule, Output: a.Output, Result: a.Result, Error: a.Error}
	}
	return w
}

// resetPeakRSS resets this process's VmHWM (Linux: clear_refs 5), so the
// drain's peak is not the fill's.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB reads VmHWM of pid (0 where /proc is absent).
func peakRSSMiB(pid int) float64 { return centralbench.PeakRSSMiB(pid) }

// procMiB reads a kB field of /proc/pid/status in MiB.
func procMiB(pid int, field string) float64 { return centralbench.ProcMiB(pid, field) }
