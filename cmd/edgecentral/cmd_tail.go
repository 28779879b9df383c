package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type tailFlags struct {
	adminFlags
	gateway   string
	after     uint64
	fromStart bool
	follow    bool
	interval  time.Duration
	scope     string
	since     string
	until     string
	json      bool
}

var tailOpts *tailFlags

func (o *tailFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.gateway, "gateway", o.gateway, "only this gateway's events")
	fs.Uint64Var(&o.after, "after", o.after, "start after this cursor (the first column of each line)")
	fs.BoolVar(&o.fromStart, "from-start", o.fromStart, "start with the oldest stored event instead of new ones only")
	fs.BoolVar(&o.follow, "follow", o.follow, "keep following; --follow=false prints what is stored and exits")
	fs.DurationVar(&o.interval, "interval", o.interval, "how often to poll the server")
	fs.StringVar(&o.scope, "scope", o.scope, "only events of this place: district[/street[/committee[/compound[/building[/unit[/household]]]]]] (JetStream store)")
	fs.StringVar(&o.since, "since", o.since, "only events received at or after this time: RFC 3339 (2026-05-01T08:00:00+08:00) or a duration ago (2h) (JetStream store)")
	fs.StringVar(&o.until, "until", o.until, "only events received at or before this time (RFC 3339 or a duration ago); implies --follow=false")
	fs.BoolVar(&o.json, "json", o.json, "print each event as one line of JSON (the schema of docs/central.md)")
}

// when parses an RFC 3339 time or a duration ago.
func when(name, v string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", usageErr("--%s %q: want an RFC 3339 time or a duration such as 2h", name, v)
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

func init() {
	app.Register(&cli.Command{
		Name:  "tail",
		Short: "follow the events arriving at the receiver",
		Usage: `Prints events as the receiver stores them, one line each, in arrival order:

  CURSOR  RECEIVED  GATEWAY  EPOCH/SEQ  EVENT-TIME  KIND  DEVICE/POINT@BUILDING/UNIT/HOUSEHOLD  VALUE/TEXT

An event time marked with ? was stamped while the gateway's clock was not
trusted; one marked with ~ is the central's correction of such a time
(ts_corrected: the event's boot start + its monotonic time, docs/time.md). By default it starts with events arriving from now on; --from-start
begins with the oldest, --after CURSOR continues from an earlier run.
Ctrl-C stops it.

--scope keeps one district, street, committee or compound, or below a
compound one building, unit or household of its devices (whichever of the
compound's gateways serves them; --gateway keeps one); --since and
--until select by the time the central received the events (JetStream
stores index that time, not the event's own: a gateway offline for a day
delivers yesterday's events today). --json prints the stored event as JSON.

Examples:
  edgecentral tail
  edgecentral tail --scope putuo/caoyang --json
  edgecentral tail --gateway gw-compound-7 --from-start
  edgecentral tail --url https://central.example.org:8700 --admin-token $TOKEN`,
		Flags: func(fs *flag.FlagSet) {
			tailOpts = &tailFlags{adminFlags: *newAdminFlags(), follow: true, interval: time.Second}
			tailOpts.bind(fs)
		},
		Run: runTail,
	})
	app.Register(&cli.Command{
		Name:  "events",
		Short: "list stored events by place and time range",
		Usage: `Lists stored events, oldest first, and exits: tail --from-start --follow=false
with the same flags.

Examples:
  edgecentral events --scope putuo/caoyang --since 2026-05-01T00:00:00+08:00 --until 2026-05-02T00:00:00+08:00
  edgecentral events --scope putuo/caoyang/c012 --since 24h --json > c012.jsonl
  edgecentral events --scope putuo/caoyang/c012/cp07/3 --since 24h --json
  edgecentral events --gateway gw-cp07 --since 1h`,
		Flags: func(fs *flag.FlagSet) {
			tailOpts = &tailFlags{adminFlags: *newAdminFlags(), interval: time.Second, fromStart: true}
			tailOpts.bind(fs)
		},
		Run: runTail,
	})
}

func runTail(ctx context.Context, env *cli.Env, args []string) error {
	o := tailOpts
	pos := args
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	if o.interval <= 0 {
		o.interval = time.Second
	}
	now := receiver.SystemClock().Now()
	since, err := when("since", o.since, now)
	if err != nil {
		return err
	}
	until, err := when("until", o.until, now)
	if err != nil {
		return err
	}
	if until != "" {
		o.follow = false
	}
	after := o.after
	if !o.fromStart && after == 0 && since == "" {
		var page receiver.EventsPage
		if err := o.call(ctx, "GET", "/v1/admin/events?limit=1&after="+strconv.FormatUint(1<<63, 10), nil, &page); err != nil {
			return err
		}
		after = page.Last
	}
	if o.follow {
		fmt.Fprintf(env.Stderr, "tail: following events after cursor %d (Ctrl-C stops)\n", after)
	}
	for {
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {"1000"}}
		if o.gateway != "" {
			q.Set("gateway", o.gateway)
		}
		for k, v := range map[string]string{"scope": o.scope, "since": since, "until": until} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var page receiver.EventsPage
		err := o.call(ctx, "GET", "/v1/admin/events?"+q.Encode(), nil, &page)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !o.follow {
				return err
			}
			fmt.Fprintf(env.Stderr, "tail: %v; retrying\n", err)
		} else {
			for i := range page.Events {
				if o.json {
					b, _ := json.Marshal(&page.Events[i])
					fmt.Fprintf(env.Stdout, "%s\n", b)
				} else {
					printEvent(env.Stdout, &page.Events[i])
				}
			}
			progress := page.Next > after
			if progress {
				after = page.Next
				since = "" // the cursor goes on from here
			}
			more := (progress && page.Next < page.Last) || (page.Last == 0 && len(page.Events) == 1000)
			if more {
				continue
			}
			if !o.follow {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

func printEvent(w io.Writer, s *receiver.StoredEvent) {
	e, err := s.Decode()
	if err != nil {
		fmt.Fprintf(w, "%d %s %s undecodable event: %v\n", s.Cursor, s.Received.Format(time.RFC3339), s.Gateway, err)
		return
	}
	ts := e.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	switch {
	case !e.ClockTrusted && !e.TimeCorrected.IsZero():
		ts = e.TimeCorrected.UTC().Format("2006-01-02T15:04:05.000Z") + "~"
	case !e.ClockTrusted:
		ts += "?"
	}
	what := e.Device
	if e.Point != "" {
		what += "/" + e.Point
	}
	if below := strings.Trim(strings.Join([]string{s.Building, s.Unit, s.Household}, "/"), "/"); below != "" {
		what += "@" + below
	}
	var detail string
	switch {
	case e.Alert != nil:
		a := e.Alert
		detail = fmt.Sprintf("%s %s [%s] %s %q", a.ID, a.State, a.Severity, a.Rule, a.Message)
		if a.By != "" {
			detail += " by " + a.By
		}
	case e.Gap != nil:
		detail = fmt.Sprintf("missing %d of epoch %d seq %d..%d: %s", e.Gap.Count, e.Gap.Epoch, e.Gap.From, e.Gap.To, e.Gap.Reason)
	case e.Action != nil:
		detail = fmt.Sprintf("rule %s output %s: %s %s", e.Action.Rule, e.Action.Output, e.Action.Result, e.Action.Error)
	case e.Online != nil:
		state := "offline"
		if *e.Online {
			state = "online"
		}
		detail = strings.TrimSpace(state + " " + e.Text)
	case e.Kind == wire.KindState:
		detail = fmt.Sprintf("%s (%g)", e.Text, e.Value)
	default:
		detail = strings.TrimSpace(fmt.Sprintf("%g %s %s", e.Value, e.Unit, e.Text))
		if e.Quality != 0 {
			detail += fmt.Sprintf(" q=%d", e.Quality)
		}
	}
	fmt.Fprintf(w, "%d %s %s %d/%d %s %-7s %s %s\n", s.Cursor, s.Received.Format("15:04:05"), s.Gateway, e.Epoch, e.Seq, ts, e.Kind, orDash(what), detail)
}
