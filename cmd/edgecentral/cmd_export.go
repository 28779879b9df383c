package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/receiver"
)

// exportClock reads the time --since and --until are relative to.
var exportClock edge.Clock = edge.SystemClock{}

type exportCmdFlags struct {
	adminFlags
	scope, gateway, since, until, format, out string
}

var exportCmdOpts *exportCmdFlags

func init() {
	app.Register(&cli.Command{
		Name:  "export",
		Short: "write the events of a place and a time range to CSV or JSON lines",
		Usage: `Writes the stored events of a place (--scope) received between --since and
--until to a file (--out) or to stdout, oldest first, as CSV (one header
line; the key column gateway/epoch/seq is unique) or JSON lines (the schema
of docs/central.md). --out is written to a temporary file first and renamed
when complete: a file named by --out is never half-written.

--since and --until select by the time the central received the events, as
edgecentral events does (docs/central.md, queries).

Examples:
  edgecentral export --scope putuo/caoyang --since 2026-05-01T00:00:00+08:00 --until 2026-05-02T00:00:00+08:00 --format csv --out caoyang-0501.csv
  edgecentral export --scope putuo --since 24h --format jsonl > putuo.jsonl
  edgecentral export --scope putuo/caoyang/c012/cp07/3 --since 24h --format csv > cp07-building3.csv`,
		Flags: func(fs *flag.FlagSet) {
			exportCmdOpts = &exportCmdFlags{adminFlags: *newAdminFlags(), format: export.FormatCSV}
			o := exportCmdOpts
			o.adminFlags.bind(fs)
			fs.StringVar(&o.scope, "scope", o.scope, "place: district[/street[/committee[/compound[/building[/unit[/household]]]]]]; default all")
			fs.StringVar(&o.gateway, "gateway", o.gateway, "only this gateway's events")
			fs.StringVar(&o.since, "since", o.since, "events received at or after this time: RFC 3339 or a duration ago (24h)")
			fs.StringVar(&o.until, "until", o.until, "events received at or before this time (RFC 3339 or a duration ago); default now")
			fs.StringVar(&o.format, "format", o.format, "csv or jsonl")
			fs.StringVar(&o.out, "out", o.out, "write to this file instead of stdout")
		},
		Run: runExport,
	})
}

func runExport(ctx context.Context, env *cli.Env, args []string) error {
	o := exportCmdOpts
	if len(args) > 0 {
		return usageErr("unexpected argument %q", args[0])
	}
	if o.format != export.FormatCSV && o.format != export.FormatJSONL {
		return usageErr("--format %q: want csv or jsonl", o.format)
	}
	now := exportClock.Now()
	since, err := when("since", o.since, now)
	if err != nil {
		return err
	}
	until, err := when("until", o.until, now)
	if err != nil {
		return err
	}
	if until == "" {
		until = now.UTC().Format(time.RFC3339Nano)
	}
	var w io.Writer = env.Stdout
	var tmp *os.File
	if o.out != "" {
		if tmp, err = os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".*"); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	fw, err := export.NewFileWriter(bw, o.format)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1000"}, "until": {until}}
	for k, v := range map[string]string{"scope": o.scope, "gateway": o.gateway, "since": since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	after := uint64(0)
	for {
		q.Set("after", strconv.FormatUint(after, 10))
		var page receiver.EventsPage
		if err := o.call(ctx, "GET", "/v1/admin/events?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for i := range page.Events {
			if err := fw.Write(&page.Events[i]); err != nil {
				return err
			}
		}
		if page.Next <= after || len(page.Events) == 0 {
			break
		}
		after = page.Next
		q.Del("since") // the cursor goes on from here
	}
	if err := fw.Flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := os.Rename(tmp.Name(), o.out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(env.Stderr, "export: %d events written to %s\n", fw.Count(), o.out)
	}
	return nil
}
