package main

import (
	"context"
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
}

var tailOpts *tailFlags

func (o *tailFlags) bind(fs *flag.FlagSet) {
	o.adminFlags.bind(fs)
	fs.StringVar(&o.gateway, "gateway", o.gateway, "only this gateway's events")
	fs.Uint64Var(&o.after, "after", o.after, "start after this cursor (the first column of each line)")
	fs.BoolVar(&o.fromStart, "from-start", o.fromStart, "start with the oldest stored event instead of new ones only")
	fs.BoolVar(&o.follow, "follow", o.follow, "keep following; --follow=false prints what is stored and exits")
	fs.DurationVar(&o.interval, "interval", o.interval, "how often to poll the server")
}

func init() {
	app.Register(&cli.Command{
		Name:  "tail",
		Short: "follow the events arriving at the receiver",
		Usage: `Prints events as the receiver stores them, one line each, in arrival order:

  CURSOR  RECEIVED  GATEWAY  EPOCH/SEQ  EVENT-TIME  KIND  DEVICE/POINT  VALUE/TEXT

An event time marked with ? was stamped while the gateway's clock was not
trusted. By default it starts with events arriving from now on; --from-start
begins with the oldest, --after CURSOR continues from an earlier run.
Ctrl-C stops it.

Examples:
  edgecentral tail
  edgecentral tail --gateway gw-compound-7 --from-start
  edgecentral tail --url https://central.example.org:8700 --admin-token $TOKEN`,
		Flags: func(fs *flag.FlagSet) {
			tailOpts = &tailFlags{adminFlags: *newAdminFlags(), follow: true, interval: time.Second}
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
	after := o.after
	if !o.fromStart && after == 0 {
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
				printEvent(env.Stdout, &page.Events[i])
			}
			if page.Next > after {
				after = page.Next
			}
			more := page.Next < page.Last || (page.Last == 0 && len(page.Events) == 1000)
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
	if !e.ClockTrusted {
		ts += "?"
	}
	what := e.Device
	if e.Point != "" {
		what += "/" + e.Point
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
