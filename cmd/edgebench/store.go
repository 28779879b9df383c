package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/edgegw/edgegw/edge/store/storebench"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		c          storebench.Config
		asJSON     bool
		noBaseline bool
	)
	app.Register(&cli.Command{
		Name:  "store",
		Short: "durable ingest of the event store vs raw Badger (events/s, p99 commit, peak RSS)",
		Usage: `Appends --events readings of --event-bytes bytes (encoded) through the
store's AppendAsync from concurrent producers, each durable (group-committed
and fsynced) before it counts, then reads them all back. Then it runs raw
Badger in another temp dir (defaults, SyncWrites on, 1000 events per
transaction, the same records) as the baseline.

Prints events_per_sec, baseline_events_per_sec, ratio, p99_commit_ms (append
to durable at saturation: producers outrun the disk, so this is mostly queue
time), peak_rss_mib (VmHWM over ingest and read-back, reset before the phase;
split into peak_rss_anon_mib / peak_rss_file_mib by sampling). Then a paced
run on a fresh store: one producer offers --paced x the saturated events/s on
a fixed schedule, and paced_p99_commit_ms is append-to-durable measured from
each event's scheduled time. The baseline runs last.

Targets on a 2-core box: >= 150,000 ev/s, >= 0.9x baseline, p99 <= 15 ms,
peak RSS <= 64 MiB.

Example:
  edgebench store --events 1000000 --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&c.Events, "events", 1_000_000, "events to append")
			fs.IntVar(&c.EventBytes, "event-bytes", 200, "encoded size of each event")
			fs.IntVar(&c.Producers, "producers", 4, "goroutines appending")
			fs.DurationVar(&c.CommitWait, "commit-wait", 0, "group-commit wait (default the store's 5ms)")
			fs.StringVar(&c.Dir, "dir", "", "parent directory for the temp stores (default $TMPDIR)")
			fs.Float64Var(&c.Paced, "paced", 0.5, "paced run: offered load as a fraction of the saturated events/s (negative: skip)")
			fs.IntVar(&c.PacedEvents, "paced-events", 0, "events in the paced run (default min(--events, 200000))")
			fs.BoolVar(&noBaseline, "no-baseline", false, "skip the raw Badger baseline")
			fs.Float64Var(&c.PacedRate, "paced-rate", 0, "paced run: offered events/s (overrides --paced's fraction)")
			fs.BoolVar(&c.Random, "random", false, "pad events with random text (incompressible) instead of a repeated character")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			c.Baseline = !noBaseline
			r, err := storebench.Run(ctx, c)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(env.Stdout, string(b))
				return nil
			}
			fmt.Fprintf(env.Stdout, "store: %.0f events/s durable (%d events of %d bytes, %d producers), %.1f events per commit\n",
				r.EventsPerSec, r.Events, r.EventBytes, r.Producers, r.EventsPerCommit)
			fmt.Fprintf(env.Stdout, "commit latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50CommitMs, r.P99CommitMs, r.MaxCommitMs)
			fmt.Fprintf(env.Stdout, "read back: %.0f events/s; peak RSS %.1f MiB; disk %.1f MiB\n", r.ReadPerSec, r.PeakRSSMiB, r.DiskMiB)
			if r.PacedEvents > 0 {
				fmt.Fprintf(env.Stdout, "paced at %.0f events/s offered: %.0f events/s, append-to-durable p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
					r.PacedRate, r.PacedPerSec, r.PacedP50Ms, r.PacedP99Ms, r.PacedMaxMs)
			}
			if c.Baseline {
				fmt.Fprintf(env.Stdout, "raw badger baseline: %.0f events/s; ratio %.2f\n", r.BaselinePerSec, r.Ratio)
			}
			return nil
		},
	})
}
