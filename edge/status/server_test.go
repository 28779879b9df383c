package status_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/password"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/edge/status/statustest"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

const testPassword = "correct horse"

type rig struct {
	t     *testing.T
	srv   *httptest.Server
	fake  *statustest.Fake
	clock *fakeclock.Clock // for sessions and rate limits
	c     *http.Client     // with a cookie jar
}

func newRig(t *testing.T, withPassword bool) *rig {
	t.Helper()
	clock := fakeclock.New(time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC))
	fake := statustest.New(clock.Now())
	cfg := config.Status{Listen: "127.0.0.1:0"}
	if withPassword {
		h, err := password.NewWithIterations(testPassword, password.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		cfg.PasswordHash = h
	}
	s, err := status.New(status.Options{Config: cfg, Provider: fake, Version: "1.2.3-test", Now: clock.Now, Logs: status.NewLogRing(10, nil)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &rig{t: t, srv: srv, fake: fake, clock: clock, c: &http.Client{Jar: jar}}
}

func (r *rig) do(method, path string, body io.Reader, hdr map[string]string) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (r *rig) csrf() string {
	r.t.Helper()
	resp := r.do("GET", "/api/session", nil, nil)
	var s struct {
		Authenticated bool   `json:"authenticated"`
		CSRF          string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		r.t.Fatal(err)
	}
	return s.CSRF
}

func (r *rig) login(pw string) *http.Response {
	return r.do("POST", "/login", strings.NewReader(url.Values{"password": {pw}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func wantCode(t *testing.T, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: got %d, want %d (%s)", what, resp.StatusCode, want, strings.TrimSpace(string(b)))
	}
}

const ackPath = "/api/alerts/observed-door-open%2Fdoor-3-2-101%2F17/ack"

func TestDefaultBindIsLoopback(t *testing.T) {
	var c config.Status
	c.SetDefaults()
	if c.Listen != "127.0.0.1:8780" {
		t.Fatalf("default listen: got %q, want 127.0.0.1:8780", c.Listen)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("default config invalid: %v", errs)
	}
	// A LAN address without a password is refused, by config validation
	// and by status.New.
	for _, l := range []string{"0.0.0.0:8780", ":8780", "192.168.1.10:8780", "[::]:8780", "gateway.local:8780"} {
		c := config.Status{Listen: l}
		c.SetDefaults()
		errs := c.Validate()
		if len(errs) == 0 || errs[0].Field != "status.listen" || !strings.Contains(errs[0].Msg, "password_hash") {
			t.Errorf("listen %s without password: got %v, want a status.listen error naming password_hash", l, errs)
		}
		if _, err := status.New(status.Options{Config: c, Provider: statustest.New(time.Now())}); err == nil {
			t.Errorf("status.New accepted listen %s without a password", l)
		}
	}
	for _, l := range []string{"127.0.0.1:8780", "localhost:1", "[::1]:8780", "127.0.0.2:80"} {
		if ok, err := config.ListenIsLoopback(l); !ok || err != nil {
			t.Errorf("ListenIsLoopback(%s) = %v, %v; want true", l, ok, err)
		}
	}
	h, _ := password.NewWithIterations("x", password.MinIterations)
	c = config.Status{Listen: "0.0.0.0:8780", PasswordHash: h}
	c.SetDefaults()
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("LAN with password: %v", errs)
	}

	// Run with the default config really binds 127.0.0.1 (on a free port).
	c = config.Status{Listen: "127.0.0.1:0"}
	s, err := status.New(status.Options{Config: c, Provider: statustest.New(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
		t.Fatalf("bound %v", ln.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "healthz", resp, 200)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

func TestOpenLoopbackAPI(t *testing.T) {
	r := newRig(t, false)
	resp := r.do("GET", "/api/status", nil, nil)
	wantCode(t, "status without password", resp, 200)
	var snap status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Devices) != 3 || len(snap.Alerts) != 1 || snap.Sync.BacklogEvents != 12 || snap.GatewayID != "gw-test-1" {
		t.Fatalf("snapshot: got %+v", snap)
	}

	// No CSRF token: refused even though no password is set.
	wantCode(t, "ack without token", r.do("POST", ackPath, nil, nil), 403)
	tok := r.csrf()
	if len(tok) != 64 {
		t.Fatalf("csrf token %q", tok)
	}
	// Cross-site, even with the token (a page cannot read it, but check anyway).
	wantCode(t, "cross-site ack", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Origin": "http://evil.example"}), 403)
	wantCode(t, "cross-site ack (fetch metadata)", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Sec-Fetch-Site": "cross-site"}), 403)
	wantCode(t, "cross-site ack (referer)", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Referer": "http://evil.example/x"}), 403)
	if n := r.fake.AckCount(); n != 0 {
		t.Fatalf("refused requests acked %d alerts", n)
	}
	same := r.srv.URL
	wantCode(t, "same-origin ack", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Origin": same}), 200)
	if n := r.fake.AckCount(); n != 1 || !strings.HasPrefix(r.fake.Acks[0], "observed-door-open/door-3-2-101/17 local:status-page@127.0.0.1") {
		t.Fatalf("acks: %v", r.fake.Acks)
	}
	wantCode(t, "ack unknown", r.do("POST", "/api/alerts/nope/ack", nil, map[string]string{"X-CSRF-Token": tok}), 404)
	wantCode(t, "test output", r.do("POST", "/api/outputs/siren/test", nil, map[string]string{"X-CSRF-Token": tok}), 200)
	wantCode(t, "test unknown output", r.do("POST", "/api/outputs/nope/test", nil, map[string]string{"X-CSRF-Token": tok}), 404)
	if len(r.fake.Tested) != 1 || r.fake.Tested[0] != "siren" {
		t.Fatalf("tested: %v", r.fake.Tested)
	}
	wantCode(t, "GET on a POST route", r.do("GET", ackPath, nil, nil), 405)
}

func TestLoginRequired(t *testing.T) {
	r := newRig(t, true)
	// No password given: 401 for the API and for buttons.
	wantCode(t, "status without login", r.do("GET", "/api/status", nil, nil), 401)
	wantCode(t, "logs without login", r.do("GET", "/api/logs", nil, nil), 401)
	wantCode(t, "metrics without login", r.do("GET", "/metrics", nil, nil), 401)
	wantCode(t, "ack without login", r.do("POST", ackPath, nil, nil), 401)
	wantCode(t, "the page itself", r.do("GET", "/", nil, nil), 200)
	if tok := r.csrf(); tok != "" {
		t.Fatalf("csrf token handed out without a session: %q", tok)
	}

	wantCode(t, "wrong password", r.login("wrong"), 401)
	wantCode(t, "cross-site login", r.do("POST", "/login", strings.NewReader("password="+url.QueryEscape(testPassword)),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}), 403)
	resp := r.login(testPassword)
	wantCode(t, "right password", resp, 200)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "edgegw_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || len(ck.Value) != 64 || ck.MaxAge != 8*3600 {
		t.Fatalf("session cookie: %+v", ck)
	}
	wantCode(t, "status with session", r.do("GET", "/api/status", nil, nil), 200)
	wantCode(t, "ack with session but no token", r.do("POST", ackPath, nil, nil), 403)
	tok := r.csrf()
	wantCode(t, "ack cross-site with session and token", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Origin": "https://evil.example"}), 403)
	wantCode(t, "ack with session and wrong token", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": strings.Repeat("0", 64)}), 403)
	wantCode(t, "ack with session and token", r.do("POST", ackPath, nil, map[string]string{"X-CSRF-Token": tok, "Origin": r.srv.URL}), 200)

	// Sessions expire when idle, and after their TTL however busy.
	r.clock.Advance(29 * time.Minute)
	wantCode(t, "after 29 idle minutes", r.do("GET", "/api/status", nil, nil), 200)
	r.clock.Advance(31 * time.Minute)
	wantCode(t, "after 31 idle minutes", r.do("GET", "/api/status", nil, nil), 401)
	wantCode(t, "login again", r.login(testPassword), 200)
	for i := 0; i < 20; i++ {
		r.clock.Advance(25 * time.Minute)
		if i < 18 {
			wantCode(t, "busy session within TTL", r.do("GET", "/api/status", nil, nil), 200)
		}
	}
	wantCode(t, "busy session past 8h TTL", r.do("GET", "/api/status", nil, nil), 401)

	// Logout ends the session.
	wantCode(t, "login", r.login(testPassword), 200)
	tok = r.csrf()
	wantCode(t, "logout", r.do("POST", "/logout", nil, map[string]string{"X-CSRF-Token": tok}), 204)
	wantCode(t, "status after logout", r.do("GET", "/api/status", nil, nil), 401)
}

func TestLoginRateLimit(t *testing.T) {
	r := newRig(t, true)
	for i := 0; i < 5; i++ {
		wantCode(t, "wrong password", r.login("nope"), 401)
	}
	resp := r.login("nope")
	wantCode(t, "6th wrong password", resp, 429)
	if ra := resp.Header.Get("Retry-After"); ra != "60" {
		t.Fatalf("Retry-After: got %q, want 60", ra)
	}
	// Limited means limited: the right password waits too.
	wantCode(t, "right password while limited", r.login(testPassword), 429)
	// Basic auth shares the limit.
	req, _ := http.NewRequest("GET", r.srv.URL+"/api/status", nil)
	req.SetBasicAuth("x", testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "basic auth while limited", resp, 429)
	r.clock.Advance(30 * time.Second)
	resp = r.login(testPassword)
	wantCode(t, "after 30s", resp, 429)
	if ra := resp.Header.Get("Retry-After"); ra != "30" {
		t.Fatalf("Retry-After after 30s: got %q, want 30", ra)
	}
	r.clock.Advance(31 * time.Second)
	wantCode(t, "after a minute", r.login(testPassword), 200)
}

func TestBasicAuthReadOnly(t *testing.T) {
	r := newRig(t, true)
	get := func(path, pw string) int {
		req, _ := http.NewRequest("GET", r.srv.URL+path, nil)
		req.SetBasicAuth("technician", pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: WWW-Authenticate sent: browsers would cache the credentials", path)
		}
		return resp.StatusCode
	}
	if c := get("/api/status", testPassword); c != 200 {
		t.Errorf("basic GET status: %d", c)
	}
	if c := get("/metrics", testPassword); c != 200 {
		t.Errorf("basic GET metrics: %d", c)
	}
	if c := get("/api/status", "bad"); c != 401 {
		t.Errorf("basic GET bad password: %d", c)
	}
	req, _ := http.NewRequest("POST", r.srv.URL+ackPath, nil)
	req.SetBasicAuth("technician", testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "basic auth POST", resp, 401)
}

func TestHostCheckAgainstRebinding(t *testing.T) {
	r := newRig(t, false)
	for host, want := range map[string]int{"evil.example:8780": 403, "localhost:8780": 200, "127.0.0.1:8780": 200, "[::1]:8780": 200} {
		req, _ := http.NewRequest("GET", r.srv.URL+"/api/status", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: got %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	r := newRig(t, true) // no login needed for these
	wantCode(t, "healthz", r.do("GET", "/healthz", nil, nil), 200)
	wantCode(t, "readyz", r.do("GET", "/readyz", nil, nil), 200)
	r.fake.Edit(func(s *status.Snapshot) { s.Ready = false })
	wantCode(t, "readyz not ready", r.do("GET", "/readyz", nil, nil), 503)
	r.fake.Edit(func(s *status.Snapshot) { s.Ready = true })
	r.fake.Err = context.DeadlineExceeded
	wantCode(t, "readyz snapshot failing", r.do("GET", "/readyz", nil, nil), 503)
	wantCode(t, "healthz while snapshot fails", r.do("GET", "/healthz", nil, nil), 200)
}

func TestPageIsSelfContained(t *testing.T) {
	r := newRig(t, false)
	resp := r.do("GET", "/", nil, nil)
	wantCode(t, "page", resp, 200)
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	for _, want := range []string{"/api/status", "/api/i18n", `t("page.alerts.ack")`, "X-CSRF-Token", `t("page.sync.backlog")`, "setInterval(refresh, 2000)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "src=", "@import", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("page loads something from elsewhere: contains %q", bad)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP: %s", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("no X-Frame-Options")
	}
}

func TestLogRing(t *testing.T) {
	ring := status.NewLogRing(3, nil)
	var next strings.Builder
	log := slogNew(ring, &next)
	log.Debug("hidden")
	for i := 0; i < 5; i++ {
		log.With("device", "d1").Info("line", "i", i)
	}
	lines := ring.Lines()
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3: %q", len(lines), lines)
	}
	for i, l := range lines {
		if !strings.Contains(l, "device=d1") || !strings.HasSuffix(l, "i="+string(rune('2'+i))) {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if strings.Count(next.String(), "msg=line") != 5 {
		t.Errorf("next handler got %q", next.String())
	}
}

func TestSnapshotJSONRoundTrip(t *testing.T) {
	f := statustest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, _ := f.Snapshot(context.Background())
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back status.Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Devices[0].ID != "door-3-2-101" || back.Alerts[0].State != edge.AlertFiring || back.Uptime != s.Uptime || !back.Sync.OldestUnsynced.Equal(s.Sync.OldestUnsynced) {
		t.Fatalf("round trip lost data: %s", b)
	}
	for _, key := range []string{`"gateway_id"`, `"uptime_s"`, `"backlog_events"`, `"cap_bytes"`, `"skew_s"`, `"garbage"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// The loader reports the status section's problems with file:line.
func TestStatusConfigErrorsNameFileLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"gateway:\n  id: gw1\nstatus:\n  listen: 0.0.0.0:8780\n", ":4:3: status.listen"},
		{"gateway:\n  id: gw1\nstatus:\n  listen: 0.0.0.0:8780\n  password_hash: pbkdf2-sha256$1$x$y\n", ":5:3: status.password_hash"},
		{"gateway:\n  id: gw1\nstatus:\n  idle_timeout: 5s\n", ":4:3: status.idle_timeout"},
	} {
		p := filepath.Join(t.TempDir(), "gw.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o644)
		_, err := config.Load(p)
		if err == nil || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("config.Load:\n%s\ngot %v, want an error with %s%s", tc.yaml, err, p, tc.want)
		}
	}
}
