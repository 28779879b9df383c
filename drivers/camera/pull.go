package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// ErrAuth is wrapped when a camera refuses the user and password.
var ErrAuth = errors.New("camera refused the credentials")

// errIdle ends a stream that brought nothing for idle_timeout.
var errIdle = errors.New("stream idle")

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // cameras are on the LAN
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		MaxIdleConns:          2,
	}}
}

// subscribeRequest opens a stream at url, answering a digest (or basic)
// challenge with user and password. The caller closes the body.
func subscribeRequest(ctx context.Context, client *http.Client, url, user, pass string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized || user == "" {
		return checkStatus(resp)
	}
	ch, ok, basic := pickChallenge(resp.Header.Values("WWW-Authenticate"))
	drain(resp)
	if !ok && !basic {
		return nil, fmt.Errorf("%w: 401 with no digest or basic challenge", ErrAuth)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if ok {
		req.Header.Set("Authorization", ch.authorization(http.MethodGet, req.URL.RequestURI(), user, pass, 1))
	} else {
		req.SetBasicAuth(user, pass)
	}
	if resp, err = client.Do(req); err != nil {
		return nil, err
	}
	return checkStatus(resp)
}

func checkStatus(resp *http.Response) (*http.Response, error) {
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		drain(resp)
		return nil, fmt.Errorf("%w: %s", ErrAuth, resp.Status)
	default:
		drain(resp)
		return nil, fmt.Errorf("camera answered %s", resp.Status)
	}
}

func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	_ = resp.Body.Close()
}

// activityReader notes when bytes last came, for the idle watchdog.
type activityReader struct {
	r     io.Reader
	clock edge.Clock
	last  atomic.Int64
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(a.clock.Now().UnixNano())
	}
	return n, err
}

// stream is one subscription's parts, already parsed: what the pull loop
// and the probe share.
type stream struct {
	clock   edge.Clock
	idle    time.Duration
	maxPart int
	dahua   bool
	// onAlarm gets each alarm, onPicture each JPEG part; onBad each part
	// that did not parse or was too large (the stream carries on).
	onAlarm   func(Alarm)
	onPicture func([]byte)
	onBad     func(error)
}

// run reads a subscribed stream until it ends, ctx ends or it is idle for
// s.idle. It always returns an error (io.EOF when the camera closed it).
func (s *stream) run(ctx context.Context, resp *http.Response) error {
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return fmt.Errorf("%w: stream content type %q, want multipart with a boundary", ErrMalformed, clip(ct))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ar := &activityReader{r: resp.Body, clock: s.clock}
	ar.last.Store(s.clock.Now().UnixNano())
	// The watchdog closes the body, which ends a blocked Read.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.clock.After(s.idle):
			}
			if s.clock.Now().Sub(time.Unix(0, ar.last.Load())) >= s.idle {
				cancel(errIdle)
				_ = resp.Body.Close()
				return
			}
		}
	}()
	sr := NewStreamReader(ar, params["boundary"], s.maxPart)
	for {
		p, err := sr.Next()
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
				s.onBad(err)
				continue
			}
			return err
		}
		pmt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.HasPrefix(pmt, "image/") {
			if isJPEG(p.Body) && s.onPicture != nil {
				s.onPicture(p.Body)
			}
			continue
		}
		if s.dahua {
			as, err := ParseDahua(p.Body)
			if err != nil {
				s.onBad(err)
				continue
			}
			for _, a := range as {
				s.onAlarm(a)
			}
			continue
		}
		a, err := parseDoc(pmt, p.Body)
		if err != nil {
			s.onBad(err)
			continue
		}
		s.onAlarm(a)
	}
}

// pullLoop keeps camera c subscribed until ctx ends, reconnecting with
// backoff; its devices are online while the stream is open.
func (d *Driver) pullLoop(ctx context.Context, c *camState, sink edge.Sink) {
	client := newClient()
	defer client.CloseIdleConnections()
	backoff := edge.Backoff{Min: d.opts.ReconnectMin.D(), Max: d.opts.ReconnectMax.D(), Jitter: 0.4, Clock: d.clock}
	log := d.log.With("camera", c.cfg.ID)
	connected := false
	for ctx.Err() == nil {
		start := d.clock.Now()
		opened, err := d.pullOnce(ctx, client, c, sink, connected)
		connected = connected || opened
		if ctx.Err() != nil {
			return
		}
		reason := fmt.Sprintf("camera %s stream: %v", c.cfg.ID, err)
		d.mu.Lock()
		c.errors++
		c.lastError = reason
		d.mu.Unlock()
		d.setOnline(sink, c, false, reason)
		d.throttle.Warn("pull "+c.cfg.ID, "camera stream lost", "camera", c.cfg.ID, "url", redactURL(c.cfg.URL), "err", err)
		if opened && d.clock.Now().Sub(start) > d.opts.ReconnectMax.D() {
			backoff.Reset()
		}
		if backoff.Wait(ctx) != nil {
			return
		}
		log.Debug("camera reconnecting")
	}
}

func (d *Driver) pullOnce(ctx context.Context, client *http.Client, c *camState, sink edge.Sink, reconnect bool) (bool, error) {
	resp, err := subscribeRequest(ctx, client, c.cfg.URL, c.cfg.User, c.cfg.Password)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	if reconnect {
		c.reconnects++
	}
	c.lastHeard = d.clock.Now()
	d.mu.Unlock()
	d.setOnline(sink, c, true, "camera "+c.cfg.ID+" stream open")
	d.log.Info("camera stream open", "camera", c.cfg.ID, "url", redactURL(c.cfg.URL))
	var last *Alarm
	s := &stream{clock: d.clock, idle: d.opts.IdleTimeout.D(), maxPart: int(max(d.opts.MaxPart, d.opts.Pictures.MaxPicture)),
		dahua: c.cfg.Pull == PullDahua,
		onAlarm: func(a Alarm) {
			last = &a
			emit(sink, d.handle(c, a), d.throttle)
		},
		onPicture: func(b []byte) {
			// alertStream sends an alarm's picture as the part after it.
			if last != nil && last.Active {
				emit(sink, d.attachPicture(c, *last, b), d.throttle)
			}
		},
		onBad: func(err error) { d.badBody(c, err) },
	}
	return true, s.run(ctx, resp)
}

// redactURL drops a user:password@ from a URL for the log.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***@" + u[i+1:]
		}
	}
	return u
}
