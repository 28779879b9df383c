// Command gwproc is a test-only gateway process for the end-to-end tests:
// the real store, the real simulated-compound driver and the real uplink,
// without the rules and outputs of a full gateway. It is what `edgegw run`
// does for sync, small enough to be SIGKILLed many times in a test.
//
// Lines on stdin drive it: "alert ID" appends an alert, "alert-at MS ID"
// one stamped MS milliseconds after 1970 by a clock it trusts, "pause" and
// "resume" switch the uplink, "quit" stops it. It writes its state as JSON
// to --status every 100ms: the uplink status, forged downlink answers,
// config version and error, commands run.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/uplink"
)

// State is what gwproc writes to --status.
type State struct {
	Sync          edge.SyncStatus `json:"sync"`
	Up            bool            `json:"up"`
	Forged        uint64          `json:"forged"`
	ConfigVersion string          `json:"config_version"`
	ConfigError   string          `json:"config_error"`
	Config        string          `json:"config"` // the YAML running now
	Commands      []string        `json:"commands"`
	LastSeq       uint64          `json:"last_seq"`
	Emitted       uint64          `json:"emitted"`
	Done          bool            `json:"done"`   // the generator emitted --total
	Alerts        []uint64        `json:"alerts"` // seqs of the alerts appended from stdin
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gwproc:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dir, url, key, id, statusPath, level string
		rate                                 float64
		total                                uint64
		maxEvents                            int
		pollEvery, hbEvery, maxAge           time.Duration
	)
	flag.StringVar(&dir, "dir", "", "data directory")
	flag.StringVar(&url, "url", "", "central URL")
	flag.StringVar(&key, "key", "", "gateway key")
	flag.StringVar(&id, "id", "gw1", "gateway id")
	flag.StringVar(&statusPath, "status", "", "status file")
	flag.StringVar(&level, "log", "info", "log level")
	flag.Float64Var(&rate, "rate", 2000, "simulated events per second (0: none)")
	flag.Uint64Var(&total, "total", 0, "stop generating after this many events in total (0: never)")
	flag.IntVar(&maxEvents, "max-events", 500, "events per batch")
	flag.DurationVar(&pollEvery, "poll", 300*time.Millisecond, "downlink poll interval")
	flag.DurationVar(&hbEvery, "heartbeat", time.Second, "heartbeat interval")
	flag.DurationVar(&maxAge, "max-age", 50*time.Millisecond, "batch linger")
	flag.Parse()

	lv := slog.LevelInfo
	lv.UnmarshalText([]byte(level))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "log"), Logger: logger.With("component", "store"), CommitWait: 2 * time.Millisecond})
	if err != nil {
		return err
	}
	defer st.Close()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()

	ctl := &controller{dir: dir}
	ctl.load()
	judge := &edge.ClockJudge{}
	up, err := uplink.New(uplink.Options{
		Config: config.Uplink{
			URL: url, Key: key, MaxEvents: maxEvents, MaxAge: config.Duration(maxAge),
			Timeout: config.Duration(5 * time.Second), RetryMax: 2,
			RetryWaitMin: config.Duration(20 * time.Millisecond), RetryWaitMax: config.Duration(300 * time.Millisecond),
			RetryAfterCap: config.Duration(2 * time.Second),
			PollInterval:  config.Duration(pollEvery), HeartbeatInterval: config.Duration(hbEvery),
		},
		GatewayID: id, Log: st, State: st, Controller: ctl, Judge: judge,
		Logger: logger.With("component", "uplink"), Version: "e2e",
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := up.Run(ctx); err != nil {
			logger.Error("uplink stopped", "err", err)
		}
	}()

	// The generator: the real simulated compound, its events appended to
	// the real store. On a restart it carries on until the store holds
	// --total events.
	var drv *sim.Driver
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	if rate > 0 {
		have := st.LastSeq()
		if total == 0 || have < total {
			o := sim.Options{Seed: int64(have), Rate: rate}
			if total > 0 {
				o.MaxEvents = total - have
			}
			drv, err = sim.NewDriver(edge.Env{Name: "sim", Logger: logger.With("component", "sim"), Clock: edge.SystemClock{}}, o)
			if err != nil {
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sink := edge.SinkFunc(func(ev edge.Event) error {
					if total > 0 && st.LastSeq() >= total {
						return nil // the test's budget is spent (status events included)
					}
					return st.AppendAsync(ev, nil)
				})
				drv.Run(genCtx, sink)
			}()
		}
	}

	var alertMu sync.Mutex
	var alerts []uint64
	go func() { // stdin commands
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "alert", "alert-at":
				aid := "e2e"
				if len(f) > 1 {
					aid = f[len(f)-1]
				}
				ev := edge.Event{Kind: edge.KindAlert, Device: "door-1", Text: "door open",
					Alert: &edge.Alert{ID: aid, Rule: "door_open", State: edge.AlertFiring, Severity: "critical", Message: "door open"}}
				if f[0] == "alert-at" && len(f) == 3 {
					ms, _ := strconv.ParseInt(f[1], 10, 64)
					ev.Time, ev.ClockTrusted = time.UnixMilli(ms).UTC(), true
				}
				out, err := st.Append(ctx, ev)
				if err != nil {
					logger.Error("append alert", "err", err)
					continue
				}
				alertMu.Lock()
				alerts = append(alerts, out[0].Seq)
				alertMu.Unlock()
			case "pause":
				up.SetPaused(true)
			case "resume":
				up.SetPaused(false)
			case "quit":
				cancel()
			}
		}
	}()

	write := func() {
		if statusPath == "" {
			return
		}
		// Done is judged before the sync status is read, so that a state
		// that says done has a status that counts every event.
		last := st.LastSeq()
		s := State{Sync: up.Status(), Up: up.Up(), Forged: up.Forged(), ConfigError: up.ConfigError(), LastSeq: last}
		s.ConfigVersion, s.Config, s.Commands = ctl.snapshot()
		if drv != nil {
			s.Emitted = drv.Emitted()
		}
		s.Done = total > 0 && last >= total
		alertMu.Lock()
		s.Alerts = append([]uint64(nil), alerts...)
		alertMu.Unlock()
		b, _ := json.Marshal(s)
		tmp := statusPath + ".tmp"
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, statusPath)
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stopGen()
			wg.Wait()
			write()
			return nil
		case <-t.C:
			write()
		}
	}
}

// controller is gwproc's edge.Controller: it validates bundles with the
// real config parser and keeps the last good one on disk, and records the
// commands it runs.
type controller struct {
	dir string

	mu       sync.Mutex
	version  string
	yaml     string
	commands []string
}

func (c *controller) load() {
	b, err := os.ReadFile(filepath.Join(c.dir, "central-config.yaml"))
	if err == nil {
		c.yaml = string(b)
	}
	v, err := os.ReadFile(filepath.Join(c.dir, "central-config.version"))
	if err == nil {
		c.version = string(v)
	}
}

func (c *controller) snapshot() (string, string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version, c.yaml, append([]string(nil), c.commands...)
}

func (c *controller) record(s string) {
	c.mu.Lock()
	c.commands = append(c.commands, s)
	c.mu.Unlock()
}

func (c *controller) ApplyOutput(_ context.Context, output string, op edge.Op) error {
	if output == "" {
		return fmt.Errorf("no output named")
	}
	c.record(fmt.Sprintf("output %s %s on=%v %s %s", output, op.Kind, op.On, op.Duration, op.Vars["track"]))
	return nil
}

func (c *controller) AckAlert(id, by string) error {
	c.record("ack " + id + " " + by)
	return nil
}

func (c *controller) Diagnostics(context.Context) ([]byte, error) {
	c.record("diagnostics")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("status.txt")
	w.Write([]byte("gwproc diagnostics\n"))
	zw.Close()
	return buf.Bytes(), nil
}

func (c *controller) ApplyConfig(_ context.Context, data []byte, version string) error {
	if _, err := config.Parse("central config "+version, data); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(c.dir, "central-config.yaml"), data); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(c.dir, "central-config.version"), []byte(version)); err != nil {
		return err
	}
	c.mu.Lock()
	c.version, c.yaml = version, string(data)
	c.mu.Unlock()
	c.record("config " + version)
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var _ edge.Controller = (*controller)(nil)
