package rulebench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
)

// LatencyOptions configure RunLatency.
type LatencyOptions struct {
	Rules      int           // background rules (default 500)
	Devices    int           // background devices (default 2000)
	Background int           // background events per second (default 5000)
	Probes     int           // measured alarms (default 300)
	Gap        time.Duration // between probes (default 25ms)
	Clock      edge.Clock    // measures the latencies (default: the system clock)
}

// Latency is the result of RunLatency.
type Latency struct {
	Probes       int     `json:"probes"`
	Lost         int     `json:"lost"` // probes whose command never came (within 2s)
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	Background   int     `json:"background_events_per_sec"`
	BackgroundOK uint64  `json:"background_events"` // background events made durable during the run
	Rules        int     `json:"rules"`
	Devices      int     `json:"devices"`
}

// recorder is an edge.Output that records when each command arrives.
type recorder struct {
	clk edge.Clock
	mu  sync.Mutex
	at  map[string]time.Time // op text -> first arrival
	ch  chan string
}

func (r *recorder) Apply(ctx context.Context, op edge.Op) error {
	now := r.clk.Now()
	r.mu.Lock()
	if _, ok := r.at[op.Text]; !ok {
		r.at[op.Text] = now
	}
	r.mu.Unlock()
	select {
	case r.ch <- op.Text:
	default:
	}
	return nil
}

// RunLatency measures, on a real log, the time from a reading being
// accepted (Log.AppendAsync called) to its output command being issued
// (Output.Apply called): durable commit of the reading, the rules engine
// reading it through its cursor, the alert appended durably, the action
// queued and run. A background load of readings runs meanwhile.
func RunLatency(ctx context.Context, log edge.Log, state edge.StateStore, o LatencyOptions) (Latency, error) {
	if o.Rules == 0 {
		o.Rules = 500
	}
	if o.Devices == 0 {
		o.Devices = 2000
	}
	if o.Background == 0 {
		o.Background = 5000
	}
	if o.Probes == 0 {
		o.Probes = 300
	}
	if o.Gap == 0 {
		o.Gap = 25 * time.Millisecond
	}
	clk := o.Clock
	if clk == nil {
		clk = edge.SystemClock{}
	}
	rs := Rules(o.Rules)
	rs = append(rs, config.Rule{Name: "probe", Match: config.RuleMatch{Devices: []string{"probe"}, Points: []string{"alarm"}},
		When: "event.value > 0", Severity: "critical", Message: "probe {{.Event.Text}}",
		Actions: []config.RuleAction{{Output: "siren", Op: "send", Text: "{{.Event.Text}}"}}})
	set, err := rules.Compile(rs, "UTC", map[string]bool{"siren": true}, nil)
	if err != nil {
		return Latency{}, err
	}
	devs := append(Devices(o.Devices), edge.Device{ID: "probe", Location: "bench/probe"})
	rec := &recorder{clk: clk, at: map[string]time.Time{}, ch: make(chan string, 16)}
	runner := actions.New(actions.Options{Outputs: map[string]edge.Output{"siren": rec}, Clock: clk})
	eng, err := rules.New(rules.Options{Set: set, Devices: devs, Log: log, State: state, Actions: runner, Clock: clk})
	if err != nil {
		return Latency{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); runner.Run(ctx) }()
	go func() { defer wg.Done(); eng.Run(ctx) }()
	var bgMu sync.Mutex
	var bgDone uint64
	go func() {
		defer wg.Done()
		evs := Events(devs[:o.Devices], 100_000, 0, 11)
		const tick = 10 * time.Millisecond
		per := o.Background * int(tick) / int(time.Second)
		next := clk.Now()
		i := 0
		for {
			// Every tick from the start, not from the end of the last one,
			// so that the rate holds.
			next = next.Add(tick)
			if edge.Sleep(ctx, clk, next.Sub(clk.Now())) != nil {
				return
			}
			for j := 0; j < per; j++ {
				ev := evs[i%len(evs)]
				ev.Seq, ev.Time = 0, clk.Now()
				i++
				_ = log.AppendAsync(ev, func(_ edge.Event, err error) {
					if err == nil {
						bgMu.Lock()
						bgDone++
						bgMu.Unlock()
					}
				})
			}
		}
	}()
	_ = edge.Sleep(ctx, clk, 500*time.Millisecond) // let the background load settle

	var lat []time.Duration
	lost := 0
	for p := 0; p < o.Probes && ctx.Err() == nil; p++ {
		text := fmt.Sprintf("p%d", p)
		start := clk.Now()
		on := edge.StateChange("probe", "alarm", text, 1)
		on.Time = start
		if err := log.AppendAsync(on, nil); err != nil {
			return Latency{}, err
		}
		deadline := clk.After(2 * time.Second)
	wait:
		for {
			select {
			case got := <-rec.ch:
				if got == text {
					break wait
				}
			case <-deadline:
				lost++
				break wait
			case <-ctx.Done():
				return Latency{}, ctx.Err()
			}
		}
		rec.mu.Lock()
		at, ok := rec.at[text]
		rec.mu.Unlock()
		if ok {
			lat = append(lat, at.Sub(start))
		}
		off := edge.StateChange("probe", "alarm", "clear", 0)
		off.Time = clk.Now()
		_ = log.AppendAsync(off, nil)
		_ = edge.Sleep(ctx, clk, o.Gap) // the loop ends when ctx does
	}
	cancel()
	wg.Wait()
	if len(lat) == 0 {
		return Latency{}, errors.New("no probe got through")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 {
		i := int(f * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	bgMu.Lock()
	defer bgMu.Unlock()
	return Latency{Probes: len(lat), Lost: lost, P50Ms: q(0.5), P99Ms: q(0.99), MaxMs: float64(lat[len(lat)-1].Microseconds()) / 1000,
		Background: o.Background, BackgroundOK: bgDone, Rules: o.Rules, Devices: o.Devices}, nil
}
