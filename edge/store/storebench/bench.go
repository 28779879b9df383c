// Package storebench measures the event store against raw Badger: durable
// group-committed ingest, append-to-durable latency and peak memory. It backs
// `edgebench store`.
package storebench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/store"
)

// clock is the benchmark's time: the real one, through edge.Clock like the
// store's (it measures wall-clock latency and rates).
var clock edge.Clock = edge.SystemClock{}

// Config is one benchmark run.
type Config struct {
	Events     int           // events appended (default 1,000,000)
	EventBytes int           // encoded size of each event (default 200)
	Producers  int           // goroutines calling AppendAsync (default 4)
	CommitWait time.Duration // store.Options.CommitWait (default 5ms)
	Dir        string        // parent of the temp dirs (default os.TempDir())
	Baseline   bool          // also run raw Badger
	// Paced is the offered load of the paced run as a fraction of the
	// saturated run's events/s (default 0.5; negative skips the paced run).
	Paced float64
	// PacedRate, when positive, is the paced run's offered events/s,
	// instead of a fraction of the saturated rate.
	PacedRate float64
	// PacedEvents is how many events the paced run appends (default
	// min(Events, 200,000)).
	PacedEvents int
	// Random pads each event with random printable text instead of one
	// repeated character: a worst case for the store's block compression
	// (real readings repeat device ids, points and units, and compress).
	Random bool
}

// Result is what `edgebench store --json` prints.
type Result struct {
	Events          int     `json:"events"`
	EventBytes      int     `json:"event_bytes"`
	Payload         string  `json:"payload"` // "repeated" or "random" padding
	Producers       int     `json:"producers"`
	CommitWaitMs    float64 `json:"commit_wait_ms"`
	EventsPerSec    float64 `json:"events_per_sec"`
	BaselinePerSec  float64 `json:"baseline_events_per_sec,omitempty"`
	Ratio           float64 `json:"ratio,omitempty"`
	P50CommitMs     float64 `json:"p50_commit_ms"`
	P99CommitMs     float64 `json:"p99_commit_ms"`
	MaxCommitMs     float64 `json:"max_commit_ms"`
	Commits         uint64  `json:"commits"`
	EventsPerCommit float64 `json:"events_per_commit"`
	ReadPerSec      float64 `json:"read_events_per_sec"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	PeakAnonMiB     float64 `json:"peak_rss_anon_mib"` // sampled every 20 ms
	PeakFileMiB     float64 `json:"peak_rss_file_mib"` // mmapped Badger files
	PeakGoHeapMiB   float64 `json:"peak_go_heap_mib"`  // Go heap in use, sampled

	// The paced run: a fresh store offered PacedRate events/s by one
	// producer on a fixed schedule; latency counts from each event's
	// scheduled time (so a late producer is charged, not hidden).
	PacedRate   float64 `json:"paced_offered_events_per_sec,omitempty"`
	PacedEvents int     `json:"paced_events,omitempty"`
	PacedPerSec float64 `json:"paced_events_per_sec,omitempty"`
	PacedP50Ms  float64 `json:"paced_p50_commit_ms,omitempty"`
	PacedP99Ms  float64 `json:"paced_p99_commit_ms,omitempty"`
	PacedMaxMs  float64 `json:"paced_max_commit_ms,omitempty"`
	// PacedP99CallMs counts from the AppendAsync call instead of the due
	// time: the difference is the producer running late.
	PacedP99CallMs   float64 `json:"paced_p99_from_call_ms,omitempty"`
	PacedEvPerCommit float64 `json:"paced_events_per_commit,omitempty"`
	PacedPeakRSSMiB  float64 `json:"paced_peak_rss_mib,omitempty"`
	DiskMiB          float64 `json:"disk_mib"`
	GoVersion        string  `json:"go_version"`
	GOOS             string  `json:"goos"`
	GOARCH           string  `json:"goarch"`
	NumCPU           int     `json:"num_cpu"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
}

func (c *Config) defaults() {
	if c.Events <= 0 {
		c.Events = 1_000_000
	}
	if c.EventBytes <= 0 {
		c.EventBytes = 200
	}
	if c.Producers <= 0 {
		c.Producers = 4
	}
	if c.CommitWait <= 0 {
		c.CommitWait = store.DefaultCommitWait
	}
	if c.Paced == 0 {
		c.Paced = 0.5
	}
	if c.PacedEvents <= 0 {
		c.PacedEvents = min(c.Events, 200_000)
	}
}

// MakeEvent returns reading i padded so that its encoded record (as the
// store writes it) is exactly size bytes, with one repeated character.
func MakeEvent(i, size int) edge.Event { return makeEvent(i, size, false) }

// MakeEventFor is MakeEvent with c's choice of padding.
func MakeEventFor(c Config, i int) edge.Event { return makeEvent(i, c.EventBytes, c.Random) }

func makeEvent(i, size int, random bool) edge.Event {
	ev := edge.Reading(fmt.Sprintf("sim-temp-%03d", i%500), "temperature", 20+float64(i%100)/10, "C")
	ev.Priority = edge.PriorityLow
	ev.Time = time.Unix(1_700_000_000, int64(i))
	base := store.EncodedLen(&ev)
	if pad := size - base; pad > 0 {
		// the text's length prefix grows past 127 bytes; keep it exact
		txt := strings.Repeat("x", pad)
		if random {
			const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
			rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
			b := make([]byte, pad)
			for j := range b {
				b[j] = chars[rng.IntN(len(chars))]
			}
			txt = string(b)
		}
		ev.Text = txt
		for store.EncodedLen(&ev) > size && len(ev.Text) > 0 {
			ev.Text = ev.Text[1:]
		}
	}
	ev.Time = time.Time{}
	return ev
}

// latency is a histogram with 100µs buckets up to 10 s.
type latency struct {
	b   [100001]atomic.Uint64
	max atomic.Int64
}

func (l *latency) add(d time.Duration) {
	// The paced producer may append up to 1 ms before an event is due, so
	// an event can be durable "before" its due time: that counts as 0.
	d = max(d, 0)
	i := int(d / (100 * time.Microsecond))
	if i >= len(l.b) {
		i = len(l.b) - 1
	}
	l.b[i].Add(1)
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (l *latency) quantile(q float64) float64 {
	var total uint64
	for i := range l.b {
		total += l.b[i].Load()
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i := range l.b {
		n += l.b[i].Load()
		if n >= want {
			return float64(i+1) * 0.1 // upper edge of the bucket, ms
		}
	}
	return math.Inf(1)
}

// Run runs the benchmark: the store first (ingest, then reading everything
// back; peak RSS is taken then), then raw Badger in its own directory.
func Run(ctx context.Context, c Config) (*Result, error) {
	c.defaults()
	r := &Result{Events: c.Events, EventBytes: c.EventBytes, Payload: map[bool]string{false: "repeated", true: "random"}[c.Random], Producers: c.Producers,
		CommitWaitMs: float64(c.CommitWait) / 1e6, GoVersion: runtime.Version(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	dir, err := os.MkdirTemp(c.Dir, "edgebench-store-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	resetPeakRSS()
	stop := sampleMem(r)
	err = runStore(ctx, c, filepath.Join(dir, "store"), r)
	stop()
	if err != nil {
		return nil, err
	}
	r.PeakRSSMiB = peakRSSMiB()
	if c.Paced > 0 && ctx.Err() == nil {
		resetPeakRSS()
		if err := runPaced(ctx, c, filepath.Join(dir, "paced"), r); err != nil {
			return nil, err
		}
		r.PacedPeakRSSMiB = peakRSSMiB()
	}
	if c.Baseline {
		if r.BaselinePerSec, err = runBaseline(c, filepath.Join(dir, "baseline")); err != nil {
			return nil, err
		}
		r.Ratio = r.EventsPerSec / r.BaselinePerSec
	}
	return r, nil
}

// openStore opens a fresh store in dir with c's settings, and builds the
// 1000 events the producers cycle through before any clock starts.
func openStore(c Config, dir string) (*store.Store, []edge.Event, error) {
	st, err := store.Open(store.Options{Dir: dir, CommitWait: c.CommitWait})
	if err != nil {
		return nil, nil, err
	}
	tmpl := make([]edge.Event, 1000)
	for i := range tmpl {
		tmpl[i] = MakeEventFor(c, i)
	}
	return st, tmpl, nil
}

func runStore(ctx context.Context, c Config, dir string, r *Result) error {
	st, tmpl, err := openStore(c, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	lat := new(latency)
	var wg sync.WaitGroup
	var failed atomic.Value
	wg.Add(c.Events)
	start := clock.Now()
	var pw sync.WaitGroup
	for p := 0; p < c.Producers; p++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := p; i < c.Events; i += c.Producers {
				t0 := clock.Now()
				err := st.AppendAsync(tmpl[i%len(tmpl)], func(_ edge.Event, err error) {
					if err != nil {
						failed.Store(err)
					}
					lat.add(clock.Now().Sub(t0))
					wg.Done()
				})
				if err != nil {
					failed.Store(err)
					wg.Done()
				}
			}
		}()
	}
	pw.Wait()
	wg.Wait()
	el := clock.Now().Sub(start)
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	stats := st.Stats()
	r.EventsPerSec = float64(c.Events) / el.Seconds()
	r.P50CommitMs, r.P99CommitMs = lat.quantile(0.50), lat.quantile(0.99)
	r.MaxCommitMs = float64(lat.max.Load()) / 1e6
	r.Commits = stats.Commits
	r.EventsPerCommit = float64(stats.Appended) / float64(max(stats.Commits, 1))

	// Read everything back and check it.
	start = clock.Now()
	n, next := 0, uint64(1)
	for ctx.Err() == nil {
		evs, err := st.Read(next, 1000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Seq != next || ev.Device == "" {
				return fmt.Errorf("read back: got seq %d device %q, want seq %d", ev.Seq, ev.Device, next)
			}
			next++
		}
		n += len(evs)
	}
	if n != c.Events {
		return fmt.Errorf("read back %d events, want %d", n, c.Events)
	}
	r.ReadPerSec = float64(n) / clock.Now().Sub(start).Seconds()
	r.DiskMiB = float64(st.Stats().Bytes) / (1 << 20)
	return ctx.Err()
}

// runBaseline is raw Badger at its defaults with SyncWrites on: one
// goroutine, 1000 events per transaction, the same 200-byte records under
// 8-byte big-endian keys.
func runBaseline(c Config, dir string) (float64, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	recs := make([][]byte, 1000)
	for i := range recs {
		ev := MakeEventFor(c, i)
		ev.Time = clock.Now()
		recs[i] = store.Encode(nil, &ev)
	}
	start := clock.Now()
	for i := 0; i < c.Events; {
		txn := db.NewTransaction(true)
		for j := 0; j < 1000 && i < c.Events; j, i = j+1, i+1 {
			k := make([]byte, 8)
			for b := 0; b < 8; b++ {
				k[b] = byte(uint64(i) >> (56 - 8*b))
			}
			if err := txn.Set(k, recs[i%len(recs)]); err != nil {
				txn.Discard()
				return 0, err
			}
		}
		if err := txn.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(c.Events) / clock.Now().Sub(start).Seconds(), nil
}

// peakRSSMiB reads VmHWM from /proc/self/status (0 where there is none).
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
