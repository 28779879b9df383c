package status

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge/password"
)

const (
	sessionCookie = "edgegw_session"
	csrfHeader    = "X-CSRF-Token"
	maxSessions   = 64
	maxLimited    = 4096 // client addresses tracked by the login limiter
)

type session struct {
	id       string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// auth holds the password, sessions, the open-mode CSRF token and the
// failed-login limiter. Everything is in memory: a restart logs everyone out.
type auth struct {
	hash     *password.Hash // nil: no password configured
	ttl      time.Duration
	idle     time.Duration
	attempts int
	now      func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	openCSRF string // CSRF token when no password is configured
	failures map[string][]time.Time
	// goodKey caches sha256 of the last verified password, so that a
	// Basic-auth scraper does not cost a PBKDF2 run per request.
	goodKey [32]byte
	haveKey bool
}

func newAuth(h *password.Hash, ttl, idle time.Duration, attempts int, now func() time.Time) *auth {
	return &auth{
		hash: h, ttl: ttl, idle: idle, attempts: attempts, now: now,
		sessions: map[string]*session{},
		openCSRF: randomToken(),
		failures: map[string][]time.Time{},
	}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("status: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func (a *auth) required() bool { return a.hash != nil }

// limited returns how long addr must wait before its next login attempt, 0
// when it may try now.
func (a *auth) limited(addr string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	fs := pruneFailures(a.failures[addr], now)
	a.failures[addr] = fs
	if len(fs) == 0 {
		delete(a.failures, addr)
	}
	if len(fs) < a.attempts {
		return 0
	}
	return fs[0].Add(time.Minute).Sub(now)
}

func pruneFailures(fs []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= time.Minute {
		i++
	}
	return fs[i:]
}

func (a *auth) fail(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) >= maxLimited {
		now := a.now()
		for k, fs := range a.failures {
			if len(pruneFailures(fs, now)) == 0 {
				delete(a.failures, k)
			}
		}
	}
	a.failures[addr] = append(a.failures[addr], a.now())
}

// check verifies pw against the configured hash.
func (a *auth) check(pw string) bool {
	if a.hash == nil {
		return false
	}
	sum := sha256.Sum256([]byte(pw))
	a.mu.Lock()
	cached := a.haveKey && subtle.ConstantTimeCompare(sum[:], a.goodKey[:]) == 1
	a.mu.Unlock()
	if cached {
		return true
	}
	if !a.hash.Verify(pw) {
		return false
	}
	a.mu.Lock()
	a.goodKey, a.haveKey = sum, true
	a.mu.Unlock()
	return true
}

func (a *auth) newSession() *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	if len(a.sessions) >= maxSessions {
		// Drop the least recently used session rather than refuse a login.
		var old *session
		for _, s := range a.sessions {
			if old == nil || s.lastSeen.Before(old.lastSeen) {
				old = s
			}
		}
		delete(a.sessions, old.id)
	}
	s := &session{id: randomToken(), csrf: randomToken(), created: now, lastSeen: now}
	a.sessions[s.id] = s
	return s
}

func (a *auth) expireLocked(now time.Time) {
	for id, s := range a.sessions {
		if now.Sub(s.created) >= a.ttl || now.Sub(s.lastSeen) >= a.idle {
			delete(a.sessions, id)
		}
	}
}

// session returns the live session of r and refreshes its idle timer.
func (a *auth) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	s := a.sessions[c.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.created) >= a.ttl || now.Sub(s.lastSeen) >= a.idle {
		delete(a.sessions, s.id)
		return nil
	}
	s.lastSeen = now
	return s
}

func (a *auth) endSession(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
}

// csrfFor returns the CSRF token a state-changing request must carry.
func (a *auth) csrfFor(s *session) string {
	if s != nil {
		return s.csrf
	}
	return a.openCSRF
}

func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// clientAddr is the peer's IP. X-Forwarded-For is ignored on purpose: there
// is no proxy in front of the gateway, and trusting it would let a client
// pick its own rate-limit bucket.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameOrigin refuses cross-site requests: Sec-Fetch-Site (modern browsers),
// then Origin, then Referer must name this server's Host when present.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		if o == "null" {
			return false
		}
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	return true
}

// loopbackHost reports whether a Host header names this machine. When the
// server listens on loopback, other names are refused: that defeats DNS
// rebinding (evil.example resolving to 127.0.0.1).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int(d.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
