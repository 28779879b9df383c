package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/uplink"
)

func init() {
	var (
		dataDir   string
		listen    string
		duration  time.Duration
		rate      int
		noCentral bool
		every     time.Duration
	)
	app.Register(&cli.Command{
		Name:  "demo",
		Short: "run the gateway on a simulated compound (no hardware, no network)",
		Usage: `Runs the whole gateway on a simulated compound: door contacts (some
households under home observation), garbage stations, temperature and
smoke sensors, a water-level sensor, a falling-object camera, a siren, a
voice module, an LED sign and an SMS modem, all simulated by the sim
driver, with the compound's alert rules. An embedded central receiver on
127.0.0.1 receives the synced events, so the whole path runs with one
command.

It prints a live summary every few seconds: events per second, devices
online, store size, active alerts, sync backlog. The status page is at
the --listen address.

Type "down" and Enter to cut the network to the central receiver, "up"
to bring it back: the backlog grows while it is down and drains after.

Examples:
  edgegw demo
  edgegw demo --rate 5000 --duration 1m
  edgegw demo --data ./demo-data        (keep the store between runs)`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dataDir, "data", "", "data `dir` (default: a temporary directory removed at exit)")
			fs.StringVar(&listen, "listen", "127.0.0.1:8780", "status page `address`")
			fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
			fs.IntVar(&rate, "rate", 0, "simulated events per second (0: the demo config's rate)")
			fs.BoolVar(&noCentral, "no-central", false, "do not start the embedded central receiver")
			fs.DurationVar(&every, "every", 2*time.Second, "summary interval")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			if every <= 0 {
				return fmt.Errorf("%w: --every must be positive", cli.ErrUsage)
			}
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			if duration > 0 {
				var c2 context.CancelFunc
				ctx, c2 = context.WithTimeout(ctx, duration)
				defer c2()
			}
			if dataDir == "" {
				d, err := os.MkdirTemp("", "edgegw-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dataDir = d
			}
			cfg, err := demoConfig(dataDir, rate)
			if err != nil {
				return err
			}
			cfg.Status.Listen = listen
			var stopCentral func()
			if !noCentral {
				stopCentral, err = startDemoCentral(ctx, cfg, dataDir, env.Stderr)
				if err != nil {
					return fmt.Errorf("start the embedded central receiver: %w", err)
				}
				defer stopCentral()
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			return runGateway(ctx, runOptions{
				Config: cfg,
				Stderr: env.Stderr,
				Started: func(g *gateway.Gateway, up *uplink.Uplink, st *status.Server) {
					i18n.Fprintf(env.Stdout, lang(), "edgegw demo: gateway %s, data in %s\n", cfg.Gateway.ID, dataDir)
					i18n.Fprintf(env.Stdout, lang(), "status page: http://%s/   (type \"down\" or \"up\" + Enter to switch the network)\n", listen)
					wg.Add(2)
					go func() { defer wg.Done(); printDemoSummary(ctx, env.Stdout, g, every) }()
					go func() { defer wg.Done(); networkSwitch(ctx, env.Stdin, env.Stdout, up) }()
				},
			})
		},
	})
}

var simRateLine = regexp.MustCompile(`(?m)^(\s+rate:\s*)\d+`)

// demoConfig is the demo compound with its store in dataDir and, when rate
// is set, the simulator's rate replaced.
func demoConfig(dataDir string, rate int) (*config.Config, error) {
	data := config.DemoYAML()
	if rate > 0 {
		if !simRateLine.Match(data) {
			return nil, fmt.Errorf("demo config has no sim rate to replace")
		}
		data = simRateLine.ReplaceAll(data, []byte(fmt.Sprintf("${1}%d", rate)))
	}
	cfg, err := config.Parse("demo.yaml", data)
	if err != nil {
		return nil, err
	}
	cfg.Store.Dir = dataDir
	return cfg, nil
}

// printDemoSummary prints one line every interval until ctx ends.
func printDemoSummary(ctx context.Context, w io.Writer, g *gateway.Gateway, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastN uint64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s, err := g.Snapshot(ctx)
			if err != nil {
				continue
			}
			rate := float64(s.EventsIngested-lastN) / now.Sub(last).Seconds()
			lastN, last = s.EventsIngested, now
			net := i18n.Text(lang(), "off")
			if s.Sync.Enabled {
				switch {
				case s.Sync.Paused:
					net = i18n.Text(lang(), "DOWN (switched off)")
				case s.Sync.Reachable:
					net = i18n.Text(lang(), "up")
				default:
					net = i18n.Text(lang(), "unreachable")
				}
			}
			i18n.Fprintf(w, lang(), "%s  %6.0f ev/s  devices %d/%d online  store %s (%d events)  alerts %d  sync %s backlog %d\n",
				now.Format("15:04:05"), rate, s.OnlineCount(), len(s.Devices),
				config.ByteSize(s.Store.Bytes), s.Store.Events, len(s.Alerts), net, s.Sync.BacklogEvents)
		}
	}
}

// networkSwitch reads "down"/"up" lines and pauses or resumes the uplink.
func networkSwitch(ctx context.Context, r io.Reader, w io.Writer, up *uplink.Uplink) {
	if r == nil || up == nil {
		return
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(strings.ToLower(sc.Text())):
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-lines:
			switch l {
			case "down", "d", "off":
				up.SetPaused(true)
				i18n.Fprintln(w, lang(), "network: DOWN — events are kept in the store; the backlog grows")
			case "up", "u", "on":
				up.SetPaused(false)
				i18n.Fprintln(w, lang(), "network: up — the backlog drains, alerts first")
			case "":
			default:
				i18n.Fprintf(w, lang(), "type \"down\" or \"up\" (got %q)\n", l)
			}
		}
	}
}
