// Package rulebench builds the rule engine's benchmark workloads, shared by
// `go test -bench` and `edgebench rules`.
package rulebench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
)

// kinds of device in the workload: each device is one of them, each rule
// targets one.
var kinds = []struct {
	tag, point, when string
	state            bool
}{
	{"door", "door", `event.text == "open"`, true},
	{"temp", "temp", `event.value > 60`, false},
	{"smoke", "smoke", `event.value > 0`, false},
	{"water", "level", `event.value > 1.5 && device.building != ""`, false},
	{"garbage", "lid", `event.text == "open" && "garbage" in device.tags`, true},
}

// Buildings is the number of buildings the devices are spread over; with
// 500 rules each building has its own rule per device kind.
const Buildings = 100

// Devices makes n devices over Buildings buildings, kinds in turn.
func Devices(n int) []edge.Device {
	devs := make([]edge.Device, n)
	for i := range devs {
		k := kinds[i%len(kinds)]
		b := i % Buildings
		devs[i] = edge.Device{ID: fmt.Sprintf("dev-%05d", i), Type: k.tag,
			Location: fmt.Sprintf("bench/b%03d/u%d/h%d", b, (i/Buildings)%10, i), Tags: []string{k.tag}}
	}
	return devs
}

// Rules makes n rules: n/5 per device kind, each on its own location
// prefix (building) when there are more than 5, so every device is matched
// by about one rule whatever n is: the cost per event must then not depend
// on n.
func Rules(n int) []config.Rule {
	rs := make([]config.Rule, 0, n)
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		r := config.Rule{Name: fmt.Sprintf("rule-%04d", i), When: k.when, Severity: "warning",
			Match:   config.RuleMatch{Tags: []string{k.tag}, Points: []string{k.point}},
			Message: "{{.Rule}} at {{.Device.Location}}: {{.Event.Value}}"}
		if n > len(kinds) {
			r.Match.Location = []string{fmt.Sprintf("bench/b%03d", (i/len(kinds))%Buildings)}
		}
		rs = append(rs, r)
	}
	return rs
}

// Events makes n events over devs, about alarmPermille of them alarming
// (the rest are normal readings and closed contacts).
func Events(devs []edge.Device, n int, alarmPermille int, seed uint64) []edge.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	evs := make([]edge.Event, n)
	t := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	for i := range evs {
		di := rng.IntN(len(devs))
		k := kinds[di%len(kinds)]
		alarm := rng.IntN(1000) < alarmPermille
		ev := edge.Event{Seq: uint64(i + 1), Time: t, Kind: edge.KindReading, Device: devs[di].ID, Point: k.point}
		switch {
		case k.state && alarm:
			ev.Kind, ev.Text, ev.Value = edge.KindState, "open", 1
		case k.state:
			ev.Kind, ev.Text = edge.KindState, "closed"
		case k.tag == "temp":
			ev.Value = 20 + rng.Float64()*10
			if alarm {
				ev.Value = 70
			}
		case k.tag == "water":
			ev.Value = rng.Float64()
			if alarm {
				ev.Value = 2
			}
		case alarm:
			ev.Value = 1
		}
		evs[i] = ev
	}
	return evs
}

// Throughput is the result of one pure-engine run.
type Throughput struct {
	Rules   int `json:"rules"`
	Devices int `json:"devices"`
	Events  int `json:"events"`
	// EventsPerSec is per second of the engine thread's CPU time where the
	// OS tells it (Clock "thread-cpu"), else per wall second: on a busy
	// shared box the CPU time is the engine's own cost.
	EventsPerSec     float64 `json:"events_per_sec"`
	WallEventsPerSec float64 `json:"wall_events_per_sec"`
	Clock            string  `json:"clock"`
	Evaluations      uint64  `json:"evaluations"`
	Alerts           uint64  `json:"alerts"` // alert changes (fired + resolved)
	NsPerEvent       float64 `json:"ns_per_event"`
}

// RunThroughput feeds n events through a Core of nRules rules over
// nDevices devices on the calling goroutine (no IO) and measures the rate.
// The caller restricts the process to one core (runtime.GOMAXPROCS(1)).
func RunThroughput(nRules, nDevices, n int) (Throughput, error) {
	set, err := rules.Compile(Rules(nRules), "UTC", nil, nil)
	if err != nil {
		return Throughput{}, err
	}
	devs := Devices(nDevices)
	evs := Events(devs, min(n, 200_000), 2, 7)
	core := rules.NewCore(set, devs, nil)
	now := evs[0].Time
	core.Start(now)
	// warm up: (nearly) every device seen once
	for i := range evs[:min(len(evs), 50_000)] {
		core.Event(&evs[i], now)
	}
	core.DiscardDirty()
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := core.Stats()
	cpu0, cpuOK := threadCPU()
	wall := edge.SystemClock{}
	start := wall.Now()
	for i := 0; i < n; i++ {
		ev := &evs[i%len(evs)]
		core.Event(ev, now)
		if i&0xffff == 0 {
			core.DiscardDirty()
		}
	}
	el := wall.Now().Sub(start)
	cpu1, _ := threadCPU()
	st := core.Stats()
	r := Throughput{Rules: nRules, Devices: nDevices, Events: n, WallEventsPerSec: float64(n) / el.Seconds(),
		Evaluations: st.Evaluations - before.Evaluations, Alerts: st.Fired + st.Resolved - before.Fired - before.Resolved}
	r.EventsPerSec, r.Clock = r.WallEventsPerSec, "wall"
	if cpu := cpu1 - cpu0; cpuOK && cpu > 0 {
		r.EventsPerSec, r.Clock = float64(n)/cpu.Seconds(), "thread-cpu"
	}
	r.NsPerEvent = 1e9 / r.EventsPerSec
	return r, nil
}
