package rulebench

import (
	"github.com/edgegw/edgegw/edge/rules"
	"runtime"
	"testing"
)

// The workload compiles and produces alerts, and every device is matched
// by about one rule whatever the rule count.
func TestWorkload(t *testing.T) {
	for _, n := range []int{5, 500} {
		r, err := RunThroughput(n, 2000, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		if r.Alerts == 0 {
			t.Errorf("%d rules: no alerts", n)
		}
		if per := float64(r.Evaluations) / float64(r.Events); per < 0.9 || per > 1.1 {
			t.Errorf("%d rules: %.2f evaluations per event, want about 1", n, per)
		}
	}
}

func benchCore(b *testing.B, n int) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r, err := RunThroughput(n, 2000, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.EventsPerSec, "events/s")
}

func BenchmarkCore5Rules(b *testing.B)   { benchCore(b, 5) }
func BenchmarkCore500Rules(b *testing.B) { benchCore(b, 500) }

// Evaluating a normal reading allocates at most once once the device is
// known: expr boxes the struct field it reads (reflect), nothing else does.
func TestNoAllocsPerEvent(t *testing.T) {
	set, err := rules.Compile(Rules(500), "UTC", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	devs := Devices(100)
	core := rules.NewCore(set, devs, nil)
	evs := Events(devs, 1000, 0, 3)
	now := evs[0].Time
	for i := range evs {
		core.Event(&evs[i], now)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		core.Event(&evs[i%len(evs)], now)
		i++
	})
	if allocs > 1.5 {
		t.Errorf("%.1f allocations per event, want at most 1", allocs)
	}
}
