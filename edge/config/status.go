package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge/password"
)

// Status configures the technician's status server: the page, the JSON API,
// /metrics, /healthz and /readyz.
//
//	status:
//	  listen: 0.0.0.0:8780            # LAN access: needs password_hash
//	  password_hash: "pbkdf2-sha256$600000$...$..."   # edgegw status hash-password
type Status struct {
	// Listen is the address of the status server. Default: 127.0.0.1:8780
	// (this box only). Any other address than a loopback one needs
	// password_hash. "off" disables the status server.
	Listen string `yaml:"listen"`
	// PasswordHash is the technician password, hashed with
	// `edgegw status hash-password`. When set (even on loopback) the page and
	// the API need a login. Default: none.
	PasswordHash string `yaml:"password_hash"`
	// SessionTTL is how long a login lasts at most. Default: 8h.
	SessionTTL Duration `yaml:"session_ttl"`
	// IdleTimeout ends a session unused for this long. Default: 30m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// LoginAttempts is how many failed logins a client address may make per
	// minute before it gets 429. Default: 5.
	LoginAttempts int `yaml:"login_attempts"`
}

// DefaultStatusListen is the status server's default address: loopback only.
const DefaultStatusListen = "127.0.0.1:8780"

// SetDefaults fills the status section's defaults.
func (s *Status) SetDefaults() {
	if s.Listen == "" {
		s.Listen = DefaultStatusListen
	}
	if s.SessionTTL == 0 {
		s.SessionTTL = Duration(8 * time.Hour)
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = Duration(30 * time.Minute)
	}
	if s.LoginAttempts == 0 {
		s.LoginAttempts = 5
	}
}

// Disabled reports whether the status server is switched off.
func (s *Status) Disabled() bool { return strings.EqualFold(s.Listen, "off") }

// Validate checks the status section (after SetDefaults). Fields are
// named from the file's root: "status.listen".
func (s *Status) Validate() []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldErrorf("status."+field, format, args...))
	}
	if s.PasswordHash != "" {
		if _, err := password.Parse(s.PasswordHash); err != nil {
			add("password_hash", "%v", err)
		}
	}
	if !s.Disabled() {
		loop, err := ListenIsLoopback(s.Listen)
		switch {
		case err != nil:
			add("listen", "%v", err)
		case !loop && s.PasswordHash == "":
			add("listen", "listening on %q (not loopback) needs status.password_hash: make one with 'edgegw status hash-password', or listen on 127.0.0.1", s.Listen)
		}
	}
	if s.SessionTTL < 0 || (s.SessionTTL > 0 && s.SessionTTL.D() < time.Minute) {
		add("session_ttl", "session_ttl must be at least 1m")
	}
	if s.IdleTimeout < 0 || (s.IdleTimeout > 0 && s.IdleTimeout.D() < time.Minute) {
		add("idle_timeout", "idle_timeout must be at least 1m")
	}
	if s.LoginAttempts < 0 {
		add("login_attempts", "login_attempts may not be negative")
	}
	return errs
}

// ListenIsLoopback parses a host:port listen address and reports whether it
// binds loopback only. An empty host ("":8780) binds every address.
func ListenIsLoopback(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, phrase("want host:port such as 127.0.0.1:8780, got %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return false, phrase("bad port %q", port)
	}
	switch strings.ToLower(host) {
	case "":
		return false, nil
	case "localhost":
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// A host name may resolve to anything: treat it as not loopback.
		return false, nil
	}
	return ip.IsLoopback(), nil
}
