package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

// ProbeOptions is what `edgegw probe camera` asks for: a listener that
// takes every post, or a subscription to one camera's stream.
type ProbeOptions struct {
	Listen string // push: the address to bind, such as :8090
	URL    string // pull: the alertStream or eventManager.cgi URL
	// Dahua reads URL as a Dahua attach stream; default: guessed from the
	// URL (eventManager.cgi).
	Dahua    bool
	User     string
	Password string
	// Ready, when set, gets the bound address of a listener (tests bind :0).
	Ready func(addr string)
	// Lang is the language of the lines printed. Default: English.
	Lang i18n.Lang
}

// Probe prints each alarm as it arrives, one line each (camera time or
// local time, camera address, channel, event type, state), until ctx ends;
// it returns nil then. A listener answers every post 200 (one it cannot
// read is printed as such), whatever its credential. A subscription that
// fails before it ever opens returns the error (a wrong password:
// ErrAuth); once open, a lost stream is reopened with backoff and reported
// on w.
func Probe(ctx context.Context, po ProbeOptions, w io.Writer, clock edge.Clock) error {
	if clock == nil {
		clock = edge.SystemClock{}
	}
	if (po.Listen == "") == (po.URL == "") {
		return errors.New("give either a listen address or a stream url")
	}
	var mu sync.Mutex
	print := func(src string, a Alarm) {
		t := a.Time
		if t.IsZero() {
			t = clock.Now()
		}
		state := "inactive"
		if a.Active {
			state = "active"
		}
		extra := ""
		if a.KeepAlive() {
			extra = " (keep-alive)"
		}
		if a.Picture != nil {
			extra += fmt.Sprintf(" picture=%dB", len(a.Picture))
		}
		mu.Lock()
		fmt.Fprintf(w, "%s %s ch%d %s %s%s\n", t.Format(time.RFC3339), src, a.Channel, a.Type, state, extra)
		mu.Unlock()
	}
	o := Options{Listen: po.Listen}
	o.defaults()
	d := newDriver(edge.Env{Name: "probe", Clock: clock}, o)
	if po.Listen != "" {
		d.probe = print
		d.probeBad = func(src string, err error) {
			mu.Lock()
			i18n.Fprintf(w, po.Lang, "%s %s unreadable post: %v\n", clock.Now().Format(time.RFC3339), src, err)
			mu.Unlock()
		}
		ln, err := listen(po.Listen)
		if err != nil {
			return err
		}
		i18n.Fprintf(w, po.Lang, "listening on %s: set it as the alarm host in the camera; Ctrl-C to stop\n", ln.Addr())
		if po.Ready != nil {
			po.Ready(ln.Addr().String())
		}
		d.serve(ctx, ln, edge.SinkFunc(func(edge.Event) error { return nil }))
		return nil
	}
	u, err := url.Parse(po.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return i18n.Errorf(po.Lang, "url %q: want http://host/ISAPI/Event/notification/alertStream or http://host/cgi-bin/eventManager.cgi?action=attach&codes=[All]", po.URL)
	}
	dahua := po.Dahua || strings.Contains(strings.ToLower(u.Path), "eventmanager.cgi")
	src := u.Hostname()
	client := newClient()
	defer client.CloseIdleConnections()
	backoff := edge.Backoff{Min: time.Second, Max: 30 * time.Second, Jitter: 0.4, Clock: clock}
	opened := false
	for ctx.Err() == nil {
		resp, err := subscribeRequest(ctx, client, po.URL, po.User, po.Password)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !opened {
				return fmt.Errorf("subscribe %s: %w", u.Redacted(), err)
			}
			i18n.Fprintf(w, po.Lang, "reconnecting: %v\n", err)
		} else {
			opened = true
			backoff.Reset()
			i18n.Fprintf(w, po.Lang, "subscribed to %s (%s); Ctrl-C to stop\n", u.Redacted(), map[bool]string{true: "dahua", false: "isapi"}[dahua])
			s := &stream{clock: clock, idle: o.IdleTimeout.D(), maxPart: int(o.Pictures.MaxPicture), dahua: dahua,
				onAlarm: func(a Alarm) { print(src, a) },
				onBad: func(err error) {
					mu.Lock()
					fmt.Fprintf(w, "bad part: %v\n", err)
					mu.Unlock()
				},
			}
			err = s.run(ctx, resp)
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(w, "stream lost: %v\n", err)
		}
		if backoff.Wait(ctx) != nil {
			return nil
		}
	}
	return nil
}
