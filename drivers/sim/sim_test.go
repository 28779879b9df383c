package sim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/sim"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

// virtClock is a virtual clock: After advances it at once, so Run runs
// through virtual seconds as fast as it can.
type virtClock struct {
	mu sync.Mutex
	t  time.Time
}

func newVirtClock() *virtClock { return &virtClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)} }

func (c *virtClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.t = c.t.Add(d)
	t := c.t
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

// collect runs d until stop says so (or 10s pass) and returns the events
// the sink got.
func collect(t *testing.T, d *sim.Driver, stop func(evs []edge.Event) bool) []edge.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var evs []edge.Event
	sink := edge.SinkFunc(func(ev edge.Event) error {
		evs = append(evs, ev)
		if stop(evs) {
			cancel()
		}
		return nil
	})
	if err := d.Run(ctx, sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Run did not reach its goal in 10s; %d events", len(evs))
	}
	return evs
}

func newDriver(t *testing.T, o sim.Options, clock edge.Clock) *sim.Driver {
	t.Helper()
	d, err := sim.NewDriver(edge.Env{Name: "compound", Clock: clock}, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDevices(t *testing.T) {
	d := newDriver(t, sim.Options{Compound: "sunrise", Buildings: 3, Units: 2, Households: 5, ObserveEvery: 4}, nil)
	devs := d.Devices()
	count := map[string]int{}
	ids := map[string]bool{}
	observed := 0
	for _, dev := range devs {
		if ids[dev.ID] {
			t.Errorf("duplicate id %q", dev.ID)
		}
		ids[dev.ID] = true
		count[dev.Type]++
		if dev.Driver != "compound" {
			t.Errorf("%s: driver %q, want compound", dev.ID, dev.Driver)
		}
		if !strings.HasPrefix(dev.Location, "sunrise/b") {
			t.Errorf("%s: location %q", dev.ID, dev.Location)
		}
		if dev.Type == sim.TypeDoor {
			if n := len(strings.Split(dev.Location, "/")); n != 4 {
				t.Errorf("%s: location %q has %d segments, want compound/building/unit/household", dev.ID, dev.Location, n)
			}
			if dev.HasTag("observe") {
				observed++
			}
		}
	}
	want := map[string]int{sim.TypeDoor: 30, sim.TypeTemperature: 6, sim.TypeSmoke: 6, sim.TypeGarbage: 3, sim.TypeWaterLevel: 3, sim.TypeCamera: 3}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%s: got %d devices, want %d", typ, count[typ], n)
		}
	}
	if observed != 30/4+1 {
		t.Errorf("got %d observed doors, want %d", observed, 30/4+1)
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed int64) []edge.Event {
		d := newDriver(t, sim.Options{Seed: seed, Unlimited: true, MaxEvents: 3000}, nil)
		n := len(d.Devices()) + 3000
		return collect(t, d, func(evs []edge.Event) bool { return len(evs) == n })
	}
	a, b, c := run(7), run(7), run(8)
	if trace(a) != trace(b) {
		t.Error("two runs with seed 7 differ")
	}
	if trace(a) == trace(c) {
		t.Error("seeds 7 and 8 give the same events")
	}
	kinds := map[edge.Kind]int{}
	points := map[string]int{}
	for _, ev := range a {
		kinds[ev.Kind]++
		points[ev.Point]++
	}
	if kinds[edge.KindReading] < 2000 || kinds[edge.KindState] < 100 || kinds[edge.KindStatus] != len(a)-3000 {
		t.Errorf("kinds: %v", kinds)
	}
	for _, p := range []string{"door", "lid", "fill", "temperature", "smoke", "level"} {
		if points[p] == 0 {
			t.Errorf("no %q events in %v", p, points)
		}
	}
}

func trace(evs []edge.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%v %s %s %s %v %s %v\n", ev.Kind, ev.Device, ev.Point, ev.Text, ev.Value, ev.Unit, ev.IsOnline())
	}
	return b.String()
}

func TestOnlineAtStart(t *testing.T) {
	d := newDriver(t, sim.Options{Unlimited: true, MaxEvents: 10}, nil)
	devs := d.Devices()
	evs := collect(t, d, func(evs []edge.Event) bool { return len(evs) == len(devs)+10 })
	for i, dev := range devs {
		ev := evs[i]
		if ev.Kind != edge.KindStatus || ev.Device != dev.ID || !ev.IsOnline() {
			t.Errorf("event %d: got %+v, want %s online", i, ev, dev.ID)
		}
	}
}

// TestRate: on a virtual clock, rate 500/s for 4 virtual seconds gives
// 2000 random events (give or take one tick's budget).
func TestRate(t *testing.T) {
	clock := newVirtClock()
	d := newDriver(t, sim.Options{Rate: 500}, clock)
	start := clock.Now()
	nStatus := len(d.Devices())
	var at time.Time
	evs := collect(t, d, func(evs []edge.Event) bool {
		if clock.Now().Sub(start) >= 4*time.Second {
			at = clock.Now()
			return true
		}
		return false
	})
	got := len(evs) - nStatus
	want := int(500 * at.Sub(start).Seconds())
	if got < want-10 || got > want+10 {
		t.Errorf("got %d events in %v of virtual time, want %d", got, at.Sub(start), want)
	}
}

func TestScenario(t *testing.T) {
	clock := newVirtClock()
	d := newDriver(t, sim.Options{
		Rate: 200, FireAt: edge.Duration(10 * time.Second), FireBuilding: 2,
		DoorOpenEvery: edge.Duration(5 * time.Second), DoorOpenFor: edge.Duration(2 * time.Second),
		FallEvery: edge.Duration(7 * time.Second),
	}, clock)
	observed := map[string]bool{}
	for _, dev := range d.Devices() {
		if dev.HasTag("observe") {
			observed[dev.ID] = true
		}
	}
	start := clock.Now()
	hot := map[string]time.Duration{}
	opened := map[string]time.Duration{}
	var closedAfter []time.Duration
	falls := 0
	collect(t, d, func(evs []edge.Event) bool {
		ev := evs[len(evs)-1]
		el := clock.Now().Sub(start)
		switch {
		case ev.Point == "temperature" && ev.Value > 60:
			if _, ok := hot[ev.Device]; !ok {
				hot[ev.Device] = el
			}
		case ev.Point == "door" && observed[ev.Device] && ev.Text == "open":
			opened[ev.Device] = el
		case ev.Point == "door" && ev.Text == "closed":
			if o, ok := opened[ev.Device]; ok {
				closedAfter = append(closedAfter, el-o)
				delete(opened, ev.Device)
			}
		case ev.Point == "alarm" && ev.Text == "FALL":
			falls++
		}
		return el >= 60*time.Second
	})
	if len(hot) == 0 {
		t.Fatal("no temperature above 60 C after the fire started")
	}
	for id, el := range hot {
		if !strings.HasPrefix(id, "temp-b2-") || el < 10*time.Second {
			t.Errorf("%s above 60 C at %v: want building 2 only, after 10s", id, el)
		}
	}
	if len(closedAfter) < 5 {
		t.Errorf("got %d observed doors opened and closed, want at least 5", len(closedAfter))
	}
	if falls < 8 {
		t.Errorf("got %d FALL events in 60s with fall_every 7s", falls)
	}
}

func TestTriggers(t *testing.T) {
	d := newDriver(t, sim.Options{Rate: 1}, newVirtClock())
	for _, err := range []error{
		d.OpenDoor("nope"), d.OpenDoor("cam-b1"), d.Fall("door-b1-u1-h1"), d.SetValue("door-b1-u1-h1", 3),
		d.Fire(9, true), d.Inject(edge.Reading("ghost", "x", 1, "")),
	} {
		if err == nil {
			t.Error("a bad trigger returned nil")
		}
	}
	// Triggers queue up before Run and come out in order.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.OpenDoor("door-b1-u1-h2"))
	must(d.Fall("cam-b2"))
	must(d.SetValue("temp-b1-u2", 77.5))
	must(d.Inject(edge.StateChange("garbage-b1", "lid", "open", 1)))
	must(d.CloseDoor("door-b1-u1-h2"))
	var got []string
	collect(t, d, func(evs []edge.Event) bool {
		ev := evs[len(evs)-1]
		if ev.Kind != edge.KindStatus {
			got = append(got, fmt.Sprintf("%s/%s=%s%v", ev.Device, ev.Point, ev.Text, ev.Value))
		}
		return len(got) >= 5
	})
	want := []string{"door-b1-u1-h2/door=open1", "cam-b2/alarm=FALL1", "temp-b1-u2/temperature=77.5", "garbage-b1/lid=open1", "door-b1-u1-h2/door=closed0"}
	if fmt.Sprint(got[:5]) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestGetWhileRunning: the demo finds a running driver by its input name.
func TestGetWhileRunning(t *testing.T) {
	d := newDriver(t, sim.Options{Rate: 10}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	first := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		_ = d.Run(ctx, edge.SinkFunc(func(edge.Event) error { once.Do(func() { close(first) }); return nil }))
	}()
	<-first
	if got, ok := sim.Get("compound"); !ok || got != d {
		t.Errorf("Get: got %v, %v", got, ok)
	}
	cancel()
	<-done
	if _, ok := sim.Get("compound"); ok {
		t.Error("Get finds a driver that stopped")
	}
}

func TestSinkRefuses(t *testing.T) {
	d := newDriver(t, sim.Options{Unlimited: true, MaxEvents: 1000}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := d.Run(ctx, edge.SinkFunc(func(edge.Event) error {
		n++
		if n == len(d.Devices())+1000 {
			cancel()
		}
		if n%2 == 0 {
			return errors.New("queue full")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Dropped() != uint64(n/2) || d.Emitted() != uint64(n-n/2) {
		t.Errorf("emitted %d dropped %d of %d", d.Emitted(), d.Dropped(), n)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []sim.Options{
		{Buildings: 101}, {Units: -1}, {Households: 201}, {Rate: -1}, {Compound: "a/b"},
		{FireBuilding: 3}, {ObserveEvery: -2}, {FireAt: -1},
	} {
		if _, err := sim.NewDriver(edge.Env{}, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestOutput(t *testing.T) {
	cfg, err := config.Parse("o.yaml", []byte("gateway: {id: g}\noutputs:\n  - {name: siren, driver: sim}\n  - {name: bad, driver: sim, options: {fail: relay stuck}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := edge.LookupOutput(sim.Name)
	if err != nil {
		t.Fatal(err)
	}
	o, err := f(edge.Env{Name: "siren"}, cfg.OutputOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); err != nil {
		t.Fatal(err)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpPulse}); !errors.Is(err, edge.ErrUnsupported) {
		t.Errorf("pulse: got %v, want ErrUnsupported", err)
	}
	so := o.(*sim.Output)
	if ops := so.Ops(); len(ops) != 2 || !so.On() || ops[1].Text != "hi" {
		t.Errorf("ops %+v on %v", ops, so.On())
	}
	bad, err := f(edge.Env{Name: "bad"}, cfg.OutputOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Apply(ctx, edge.Op{Kind: edge.OpSet}); err == nil || !strings.Contains(err.Error(), "relay stuck") {
		t.Errorf("got %v", err)
	}
}

// BenchmarkSimEmit measures the driver's event rate into a sink that only
// counts. Its events/s metric is the figure for "at least 100k events/s".
func BenchmarkSimEmit(b *testing.B) {
	d, err := sim.NewDriver(edge.Env{}, sim.Options{Seed: 1, Unlimited: true, Buildings: 10, Units: 4, Households: 20})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := b.N + len(d.Devices())
	n := 0
	sink := edge.SinkFunc(func(edge.Event) error {
		n++
		if n == target {
			cancel()
		}
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	if err := d.Run(ctx, sink); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// TestReadmeConfig: the README's sample config is valid.
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in README.md")
	}
	cfg, err := config.Parse("README.md", []byte("gateway: {id: g}\n"+block))
	if err != nil {
		t.Fatal(err)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatal(err)
	}
}
