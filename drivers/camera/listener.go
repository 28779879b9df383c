package camera

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/edge"
)

type httpMaxBytesError = http.MaxBytesError

// maxConcurrentPosts bounds the posts parsed at once, and with max_body
// the memory they take; one more gets 503 and the camera resends.
const maxConcurrentPosts = 8

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("camera listener %s: %w: %v", addr, edge.ErrPortInUse, err)
		}
		return nil, fmt.Errorf("camera listener %s: %w", addr, err)
	}
	return ln, nil
}

// serve runs the push listener until ctx ends. Timeouts are the server's
// own (not edge.Clock): they bound slow or stalled cameras, and a post is
// answered as soon as its body is read.
func (d *Driver) serve(ctx context.Context, ln net.Listener, sink edge.Sink) {
	sem := make(chan struct{}, maxConcurrentPosts)
	srv := &http.Server{
		Handler:           d.handler(sink, sem),
		ReadHeaderTimeout: min(5*time.Second, d.opts.ReadTimeout.D()),
		ReadTimeout:       d.opts.ReadTimeout.D(),
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug), // TLS noise, bad requests
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Error("camera listener stopped", "err", err)
	}
}

// handler is the push endpoint: it refuses what it must with a 4xx and
// answers 200 once the alarm is parsed and queued.
func (d *Driver) handler(sink edge.Sink, sem chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(code int, why string) {
			d.mu.Lock()
			d.counters.Refused++
			d.mu.Unlock()
			d.throttle.Warn("refused "+why, "camera post refused", "remote", r.RemoteAddr, "path", r.URL.Path, "why", why, "status", code)
			http.Error(w, why, code)
		}
		if d.opts.Path != "" && r.URL.Path != d.opts.Path {
			refuse(http.StatusNotFound, "wrong path")
			return
		}
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			refuse(http.StatusMethodNotAllowed, "want POST or PUT")
			return
		}
		var c *camState
		if d.probe == nil {
			var code int
			var why string
			if c, code, why = d.identify(w, r); c == nil {
				refuse(code, why)
				return
			}
		}
		// Only a known camera takes a slot (and up to max_body of memory).
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			w.Header().Set("Retry-After", "1")
			refuse(http.StatusServiceUnavailable, "busy")
			return
		}
		if r.ContentLength > int64(d.opts.MaxBody) {
			d.badBody(c, fmt.Errorf("%w: Content-Length %d over max_body %d", ErrTooLarge, r.ContentLength, d.opts.MaxBody))
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body := http.MaxBytesReader(w, r.Body, int64(d.opts.MaxBody))
		a, err := ParseBody(r.Header.Get("Content-Type"), body, int64(d.opts.MaxPart), int64(d.opts.Pictures.MaxPicture))
		if err != nil && d.probe != nil {
			// The probe answers every post 2xx and says what it could not read.
			d.probeBad(remoteIP(r), err)
			w.WriteHeader(http.StatusOK)
			return
		}
		if err != nil {
			d.badBody(c, err)
			if errors.Is(err, ErrTooLarge) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(w, "malformed alarm", http.StatusBadRequest)
			}
			return
		}
		if d.probe != nil {
			src := a.Source
			if src == "" {
				src = remoteIP(r)
			}
			d.probe(src, a)
		} else {
			emit(sink, d.handle(c, a), d.throttle)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK\n"))
	})
}

func (d *Driver) badBody(c *camState, err error) {
	d.mu.Lock()
	if errors.Is(err, ErrTooLarge) {
		d.counters.Oversize++
		if c != nil {
			c.overlong++
		}
	} else {
		d.counters.Malformed++
		if c != nil {
			c.garbage++
		}
	}
	if c != nil {
		c.lastError = err.Error()
	}
	d.mu.Unlock()
	id := ""
	if c != nil {
		id = c.cfg.ID
	}
	d.throttle.Warn("bad body "+id, "camera post refused", "camera", id, "err", err)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// identify finds the camera a post comes from (its source address, else
// the credential it carries) and checks that camera's credential. It
// returns nil and the status to answer when the post is refused; a 401
// carries the challenge.
func (d *Driver) identify(w http.ResponseWriter, r *http.Request) (*camState, int, string) {
	ip := remoteIP(r)
	if p := net.ParseIP(ip); p != nil {
		ip = p.String()
	}
	c := d.byAddr[ip]
	if c == nil {
		// A camera behind NAT or with a changing address is known by its
		// credential alone.
		token := postToken(r)
		user := postUser(r)
		for _, cand := range d.cams {
			if cand.cfg.Pull != "" || cand.cfg.Address != "" {
				continue
			}
			if (cand.cfg.Token != "" && token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(cand.cfg.Token)) == 1) ||
				(cand.cfg.User != "" && user == cand.cfg.User) {
				c = cand
				break
			}
		}
		if c == nil {
			if user == "" && token == "" && d.anyUserOnly() {
				d.auth.challenge(w.Header(), d.clock.Now())
				return nil, http.StatusUnauthorized, "credential required"
			}
			return nil, http.StatusForbidden, "unknown camera " + ip
		}
	}
	if c.cfg.Token != "" {
		if t := postToken(r); subtle.ConstantTimeCompare([]byte(t), []byte(c.cfg.Token)) != 1 {
			d.mu.Lock()
			c.errors++
			d.mu.Unlock()
			return nil, http.StatusForbidden, "wrong token for camera " + c.cfg.ID
		}
	}
	if c.cfg.User != "" && !d.auth.check(r, c.cfg.User, c.cfg.Password, d.clock.Now()) {
		if r.Header.Get("Authorization") != "" {
			d.mu.Lock()
			c.errors++
			d.mu.Unlock()
		}
		d.auth.challenge(w.Header(), d.clock.Now())
		return nil, http.StatusUnauthorized, "credential required for camera " + c.cfg.ID
	}
	return c, 0, ""
}

// anyUserOnly reports whether a push camera is known by its user alone, so
// that an anonymous post deserves a challenge rather than a 403.
func (d *Driver) anyUserOnly() bool {
	for _, c := range d.cams {
		if c.cfg.Pull == "" && c.cfg.Address == "" && c.cfg.User != "" {
			return true
		}
	}
	return false
}

func postToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return r.Header.Get("X-Token")
}

func postUser(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	scheme, p := authParams(r.Header.Get("Authorization"))
	if strings.EqualFold(scheme, "digest") {
		return p["username"]
	}
	return ""
}
