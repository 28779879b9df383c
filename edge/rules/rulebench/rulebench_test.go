package rulebench

import (
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
