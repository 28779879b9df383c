package storebench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// runPaced offers a fresh store c.Paced × the saturated rate (or
// c.PacedRate events/s) from one
// producer on a fixed schedule (event i is due at start + i/rate) and
// measures append-to-durable from each event's due time, so a producer that
// falls behind is charged for it (no coordinated omission).
func runPaced(ctx context.Context, c Config, dir string, r *Result) error {
	rate := c.Paced * r.EventsPerSec
	if c.PacedRate > 0 {
		rate = c.PacedRate
	}
	if rate <= 0 {
		return fmt.Errorf("paced run: no saturated rate to pace from")
	}
	st, tmpl, err := openStore(c, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	lat := new(latency)
	fromCall := new(latency) // from the AppendAsync call, not the due time
	var wg sync.WaitGroup
	var failed atomic.Value
	n := c.PacedEvents
	wg.Add(n)
	start := clock.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		// Sleep only when more than 1 ms ahead: events due within the same
		// millisecond go out together, each still timed from its due time.
		if d := due.Sub(clock.Now()); d > time.Millisecond {
			_ = edge.Sleep(ctx, clock, d) // ctx is checked by the loop
		}
		called := clock.Now()
		err := st.AppendAsync(tmpl[i%len(tmpl)], func(_ edge.Event, err error) {
			if err != nil {
				failed.Store(err)
			}
			lat.add(clock.Now().Sub(due))
			fromCall.add(clock.Now().Sub(called))
			wg.Done()
		})
		if err != nil {
			failed.Store(err)
			wg.Done()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	wg.Wait()
	el := clock.Now().Sub(start)
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("paced append: %w", err)
	}
	stats := st.Stats()
	r.PacedRate, r.PacedEvents = rate, n
	r.PacedPerSec = float64(n) / el.Seconds()
	r.PacedP50Ms, r.PacedP99Ms = lat.quantile(0.50), lat.quantile(0.99)
	r.PacedMaxMs = float64(lat.max.Load()) / 1e6
	r.PacedP99CallMs = fromCall.quantile(0.99)
	r.PacedEvPerCommit = float64(stats.Appended) / float64(max(stats.Commits, 1))
	return nil
}

// resetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0), so each phase
// reports its own peak; a no-op where /proc is missing.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// sampleMem samples RssAnon, RssFile and the Go heap every 20 ms into r's
// peaks until the returned stop is called.
func sampleMem(r *Result) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			anon, file := procRSS()
			r.PeakAnonMiB = max(r.PeakAnonMiB, anon)
			r.PeakFileMiB = max(r.PeakFileMiB, file)
			metrics.Read(s)
			if s[0].Value.Kind() == metrics.KindUint64 {
				r.PeakGoHeapMiB = max(r.PeakGoHeapMiB, float64(s[0].Value.Uint64())/(1<<20))
			}
			select {
			case <-done:
				return
			case <-clock.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// procRSS returns RssAnon and RssFile+RssShmem in MiB (0 where there is no
// /proc).
func procRSS() (anon, file float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "RssAnon":
			anon = kb / 1024
		case "RssFile", "RssShmem":
			file += kb / 1024
		}
	}
	return anon, file
}
