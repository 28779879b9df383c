// Package status is the technician's status server: an embedded page, a JSON
// API, /metrics, /healthz and /readyz, with logins, sessions and CSRF
// protection when it is reachable from the LAN.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/password"
)

// Options configure a Server.
type Options struct {
	// Config is the status section, defaults filled.
	Config config.Status
	// Provider is the gateway. Required.
	Provider Provider
	// Language is the page's language for a browser that asks for none
	// (gateway.language). Default: English.
	Language i18n.Lang
	// Logger; nil discards.
	Logger *slog.Logger
	// Version is shown on the page and in /api/session.
	Version string
	// Registry receives the gateway collector; nil makes a new registry with
	// the Go and process collectors. /metrics serves it.
	Registry *prometheus.Registry
	// Logs is the ring of recent log lines served at /api/logs (for
	// `edgegw diag`); nil serves an empty list.
	Logs *LogRing
	// Now is the clock for sessions and rate limits (the gateway's
	// Clock.Now); nil is the system clock.
	Now func() time.Time
	// LocalTokenPath is where the server writes its local token while it
	// serves (see LocalTokenHeader): the data directory's LocalTokenFile.
	// Empty: no local token, and the header is refused.
	LocalTokenPath string
}

// Server is the status server.
type Server struct {
	opts     Options
	log      *slog.Logger
	auth     *auth
	loopback bool
	handler  http.Handler
	// localToken lets `edgegw output test` on this machine through (see
	// LocalTokenHeader).
	localToken string
}

// New checks the options and builds the server. It does not listen yet.
func New(o Options) (*Server, error) {
	if o.Provider == nil {
		return nil, errors.New("status: no provider")
	}
	cfg := o.Config
	cfg.SetDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("status: %w", errs[0])
	}
	o.Config = cfg
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = edge.SystemClock{}.Now
	}
	var h *password.Hash
	if cfg.PasswordHash != "" {
		p, err := password.Parse(cfg.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("status.password_hash: %w", err)
		}
		h = &p
	}
	loop := true
	if !cfg.Disabled() {
		loop, _ = config.ListenIsLoopback(cfg.Listen)
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if err := reg.Register(newCollector(o.Provider, o.Version)); err != nil {
		return nil, fmt.Errorf("status: register metrics: %w", err)
	}
	s := &Server{
		opts:     o,
		log:      o.Logger,
		auth:     newAuth(h, cfg.SessionTTL.D(), cfg.IdleTimeout.D(), cfg.LoginAttempts, o.Now),
		loopback: loop,
	}
	s.localToken = randomToken()
	s.handler = s.routes(metricsHandler(reg, o.Logger))
	return s, nil
}

// Handler is the whole server as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the configured address and serves until ctx ends, then
// shuts down within 5 s. With listen "off" it just waits for ctx.
func (s *Server) Run(ctx context.Context) error {
	if s.opts.Config.Disabled() {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", s.opts.Config.Listen)
	if err != nil {
		return fmt.Errorf("status: listen on %s: %w", s.opts.Config.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	defer s.writeLocalToken()()
	s.log.Info("status server listening", "addr", ln.Addr().String(), "login", s.auth.required())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("status: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

func (s *Server) routes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.localOr(metrics, s.readOnly(metrics)))
	mux.HandleFunc("GET /api/session", s.sessionInfo)
	mux.HandleFunc("GET /api/i18n", s.apiI18n)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	for path, h := range map[string]http.HandlerFunc{"GET /api/status": s.apiStatus, "GET /api/logs": s.apiLogs, "GET /api/events": s.apiEvents} {
		mux.Handle(path, s.localOr(h, s.readOnly(h)))
	}
	mux.Handle("POST /api/alerts/{id}/ack", s.mutating(http.HandlerFunc(s.apiAck)))
	mux.Handle("POST /api/outputs/{name}/test", s.localOr(http.HandlerFunc(s.apiTestOutput), s.mutating(http.HandlerFunc(s.apiTestOutput))))
	mux.Handle("POST /api/announce", s.localOr(http.HandlerFunc(s.apiAnnounce), s.mutating(http.HandlerFunc(s.apiAnnounce))))
	return s.guard(mux)
}

// guard applies what every request needs: the Host check against DNS
// rebinding, security headers, and no caching.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.loopback && !loopbackHost(r.Host) {
			http.Error(w, "host not allowed: this status server answers only to 127.0.0.1 and localhost", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// readOnly lets a GET through with a session or, for scripts and
// Prometheus, HTTP Basic auth with the technician password (never asked
// for with WWW-Authenticate, so browsers do not cache it and cannot replay
// it cross-site). Basic auth is never accepted on a POST.
func (s *Server) readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth.required() || s.auth.session(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		if _, pw, ok := r.BasicAuth(); ok {
			addr := clientAddr(r)
			if d := s.auth.limited(addr); d > 0 {
				setRetryAfter(w, d)
				jsonError(w, http.StatusTooManyRequests, "too many failed logins; retry later")
				return
			}
			if s.auth.check(pw) {
				next.ServeHTTP(w, r)
				return
			}
			s.auth.fail(addr)
			s.log.Warn("status login failed", "client", addr, "via", "basic")
		}
		jsonError(w, http.StatusUnauthorized, "login required")
	})
}

// mutating protects a state-changing POST: same origin, a live session when
// a password is set, and the session's CSRF token in X-CSRF-Token.
func (s *Server) mutating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			jsonError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		var sess *session
		if s.auth.required() {
			if sess = s.auth.session(r); sess == nil {
				jsonError(w, http.StatusUnauthorized, "login required")
				return
			}
		}
		if !tokenEqual(r.Header.Get(csrfHeader), s.auth.csrfFor(sess)) {
			jsonError(w, http.StatusForbidden, "missing or wrong "+csrfHeader+" (get it from /api/session)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type sessionReply struct {
	AuthRequired  bool   `json:"auth_required"`
	Authenticated bool   `json:"authenticated"`
	CSRFToken     string `json:"csrf_token,omitempty"`
	Version       string `json:"version"`
}

func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) {
	rep := sessionReply{AuthRequired: s.auth.required(), Version: s.opts.Version}
	if !s.auth.required() {
		rep.Authenticated, rep.CSRFToken = true, s.auth.openCSRF
	} else if sess := s.auth.session(r); sess != nil {
		rep.Authenticated, rep.CSRFToken = true, sess.csrf
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		jsonError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	if !s.auth.required() {
		jsonError(w, http.StatusBadRequest, "no password is configured: no login needed")
		return
	}
	addr := clientAddr(r)
	if d := s.auth.limited(addr); d > 0 {
		setRetryAfter(w, d)
		jsonError(w, http.StatusTooManyRequests, "too many failed logins; retry later")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		jsonError(w, http.StatusBadRequest, "bad login form")
		return
	}
	if !s.auth.check(r.PostFormValue("password")) {
		s.auth.fail(addr)
		s.log.Warn("status login failed", "client", addr)
		jsonError(w, http.StatusUnauthorized, "wrong password")
		return
	}
	sess := s.auth.newSession()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.id, Path: "/",
		MaxAge: int(s.opts.Config.SessionTTL.D().Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
	s.log.Info("status login", "client", addr)
	writeJSON(w, http.StatusOK, sessionReply{AuthRequired: true, Authenticated: true, CSRFToken: sess.csrf, Version: s.opts.Version})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		jsonError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	if sess := s.auth.session(r); sess != nil {
		if !tokenEqual(r.Header.Get(csrfHeader), sess.csrf) {
			jsonError(w, http.StatusForbidden, "missing or wrong "+csrfHeader)
			return
		}
		s.auth.endSession(sess.id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) snapshot(ctx context.Context) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	snap, err := s.opts.Provider.Snapshot(ctx)
	if err != nil {
		return snap, err
	}
	if snap.Version == "" {
		snap.Version = s.opts.Version
	}
	if snap.Devices == nil {
		snap.Devices = []Device{}
	}
	if snap.Alerts == nil {
		snap.Alerts = []Alert{}
	}
	if snap.Outputs == nil {
		snap.Outputs = []string{}
	}
	return snap, nil
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context())
	if err != nil {
		s.log.Warn("status snapshot failed", "err", err)
		jsonError(w, http.StatusServiceUnavailable, "snapshot: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Snapshot
		Lang     i18n.Lang `json:"lang"`
		Findings []Banner  `json:"findings"`
	}{snap, s.requestLang(r), Banners(&snap, s.requestLang(r))})
}

// requestLang is the language a request asks for: ?lang=, else its
// Accept-Language, else the config's gateway.language (Options.Language).
func (s *Server) requestLang(r *http.Request) i18n.Lang {
	return i18n.Match(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"), string(s.opts.Language))
}

// apiI18n serves the page's messages in the language asked for.
func (s *Server) apiI18n(w http.ResponseWriter, r *http.Request) {
	lang := s.requestLang(r)
	writeJSON(w, http.StatusOK, map[string]any{"lang": lang, "languages": []i18n.Lang{i18n.EN, i18n.ZH}, "messages": i18n.Catalog(lang, "page.")})
}

func (s *Server) apiLogs(w http.ResponseWriter, r *http.Request) {
	lines := []string{}
	if s.opts.Logs != nil {
		lines = s.opts.Logs.Lines()
	}
	writeJSON(w, http.StatusOK, map[string]any{"lines": lines})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	snap, err := s.snapshot(r.Context())
	switch {
	case err != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
	case !snap.Ready:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: store or drivers not started")
	default:
		fmt.Fprintln(w, "ready")
	}
}

func (s *Server) apiAck(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	by := "local:status-page@" + clientAddr(r)
	if err := s.opts.Provider.AckAlert(id, by); err != nil {
		s.providerError(w, "acknowledge alert "+id, err)
		return
	}
	s.log.Info("alert acknowledged from status page", "alert", id, "client", clientAddr(r))
	writeJSON(w, http.StatusOK, map[string]string{"acknowledged": id})
}

func (s *Server) apiTestOutput(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if err := s.opts.Provider.TestOutput(ctx, name); err != nil {
		s.providerError(w, "test output "+name, err)
		return
	}
	s.log.Info("output tested from status page", "output", name, "client", clientAddr(r))
	writeJSON(w, http.StatusOK, map[string]string{"tested": name})
}

func (s *Server) providerError(w http.ResponseWriter, what string, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	} else if errors.Is(err, edge.ErrPortInUse) {
		code = http.StatusConflict
	} else if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	s.log.Warn("status action failed", "action", what, "err", err)
	jsonError(w, code, what+": "+err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// metricsHandler serves the registry in the Prometheus text format. A
// collector's error is logged and the rest is served (promhttp's
// ContinueOnError), so one failing part never blanks the whole scrape.
func metricsHandler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mfs, err := g.Gather()
		if err != nil {
			log.Warn("metrics gather", "err", err)
		}
		w.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				log.Warn("metrics encode", "err", err)
				return
			}
		}
	})
}
