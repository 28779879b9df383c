package config

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
)

// Uplink configures sync with the central platform.
//
//	uplink:
//	  url: https://central.example.org
//	  key_file: /etc/edgegw/uplink.key     # edgecentral gateways add ID prints it
//	  ca_file: /etc/edgegw/central-ca.pem  # optional: pin the central platform's CA
type Uplink struct {
	// URL of the central platform (https://host[:port][/prefix]). Empty: no
	// uplink, the gateway runs alone. http:// is accepted for tests and a
	// LAN-only receiver; every request is signed either way.
	URL string `yaml:"url"`
	// Key is the gateway's key at the central platform: 64 hex digits or
	// base64 of 32 bytes. Required with url, unless key_file is given.
	Key string `yaml:"key"`
	// KeyFile holds the key instead of the config (preferred: a config
	// bundle from the central platform then carries no secret). Default: none.
	KeyFile string `yaml:"key_file"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system roots. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ClientCert and ClientKey are a PEM client certificate and its key for
	// mutual TLS. Default: none. Give both or neither.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`

	// Timeout bounds one HTTP request, body included. Default: 30s.
	Timeout Duration `yaml:"timeout"`
	// MaxEvents caps the events of one batch. Default: 5000. Range: 1 to 100000.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes caps the (estimated, uncompressed) size of one batch.
	// Default: 1MiB. Range: 4KiB to 16MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxAge (linger) is how long the uplink waits to fill a batch before it
	// sends what it has. Alerts and state changes never wait. Default: 1s.
	MaxAge Duration `yaml:"max_age"`

	// RetryMax is how many times one request is retried before the uplink
	// backs off and starts over (it never gives up on a batch). Default: 3.
	RetryMax int `yaml:"retry_max"`
	// RetryWaitMin and RetryWaitMax bound the jittered exponential backoff
	// between attempts. Default: 500ms and 30s.
	RetryWaitMin Duration `yaml:"retry_wait_min"`
	RetryWaitMax Duration `yaml:"retry_wait_max"`
	// RetryAfterCap caps a Retry-After the server sends with 429 or 503, so a
	// misconfigured server cannot silence the gateway for a day. Default: 60s.
	RetryAfterCap Duration `yaml:"retry_after_cap"`

	// PollInterval is how often the gateway asks for a new config bundle
	// and for commands. Default: 30s.
	PollInterval Duration `yaml:"poll_interval"`
	// HeartbeatInterval is how often the gateway posts its status summary.
	// Default: 60s.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// StallAfter is how long the backlog may sit without an upload moving
	// it, while the central platform answers, before the status says
	// "stalled". Default: 2m.
	StallAfter Duration `yaml:"stall_after"`
}

// Uplink defaults.
const (
	DefaultUplinkMaxEvents = 5000
	DefaultUplinkMaxBytes  = ByteSize(1 << 20)
)

// Enabled reports whether an uplink is configured.
func (u *Uplink) Enabled() bool { return strings.TrimSpace(u.URL) != "" }

// SetDefaults fills the uplink section's defaults.
func (u *Uplink) SetDefaults() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&u.Timeout, 30*time.Second)
	if u.MaxEvents == 0 {
		u.MaxEvents = DefaultUplinkMaxEvents
	}
	if u.MaxBytes == 0 {
		u.MaxBytes = DefaultUplinkMaxBytes
	}
	def(&u.MaxAge, time.Second)
	if u.RetryMax == 0 {
		u.RetryMax = 3
	}
	def(&u.RetryWaitMin, 500*time.Millisecond)
	def(&u.RetryWaitMax, 30*time.Second)
	def(&u.RetryAfterCap, 60*time.Second)
	def(&u.PollInterval, 30*time.Second)
	def(&u.HeartbeatInterval, 60*time.Second)
	def(&u.StallAfter, 2*time.Minute)
}

// Validate checks the uplink section (after SetDefaults). Fields are named
// from the file's root: "uplink.url".
func (u *Uplink) Validate() []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldErrorf("uplink."+field, format, args...))
	}
	if u.Enabled() {
		p, err := url.Parse(u.URL)
		switch {
		case err != nil:
			add("url", "not a URL: %v", err)
		case p.Scheme != "https" && p.Scheme != "http":
			add("url", "want an https:// (or http://) URL, got scheme %q", p.Scheme)
		case p.Host == "":
			add("url", "no host in %q", u.URL)
		case p.RawQuery != "" || p.Fragment != "":
			add("url", "the URL may not carry a query or fragment")
		}
		switch {
		case u.Key == "" && u.KeyFile == "":
			add("key", "an uplink needs the gateway's key: set key_file (or key) to what 'edgecentral gateways add ID' printed")
		case u.Key != "" && u.KeyFile != "":
			add("key", "set key or key_file, not both")
		case u.Key != "" && !validKey(u.Key):
			add("key", "want 64 hex digits or base64 of 32 bytes")
		}
	}
	if (u.ClientCert == "") != (u.ClientKey == "") {
		add("client_cert", "client_cert and client_key go together: give both or neither")
	}
	if u.Timeout < 0 || (u.Timeout > 0 && u.Timeout.D() < 100*time.Millisecond) {
		add("timeout", "timeout must be at least 100ms")
	}
	if u.MaxEvents < 0 || u.MaxEvents > 100000 {
		add("max_events", "max_events must be between 1 and 100000")
	}
	if u.MaxBytes < 0 || (u.MaxBytes > 0 && (u.MaxBytes < 4<<10 || u.MaxBytes > 16<<20)) {
		add("max_bytes", "max_bytes must be between 4KiB and 16MiB")
	}
	if u.MaxAge < 0 || u.MaxAge.D() > time.Minute {
		add("max_age", "max_age must be between 0 and 1m")
	}
	if u.RetryMax < 0 || u.RetryMax > 100 {
		add("retry_max", "retry_max must be between 0 and 100")
	}
	if u.RetryWaitMin < 0 || u.RetryWaitMax < 0 || (u.RetryWaitMax > 0 && u.RetryWaitMin > u.RetryWaitMax) {
		add("retry_wait_min", "retry_wait_min must be positive and at most retry_wait_max")
	}
	if u.RetryAfterCap < 0 {
		add("retry_after_cap", "retry_after_cap may not be negative")
	}
	if u.PollInterval < 0 || (u.PollInterval > 0 && u.PollInterval.D() < 10*time.Millisecond) {
		add("poll_interval", "poll_interval must be at least 10ms")
	}
	if u.HeartbeatInterval < 0 || (u.HeartbeatInterval > 0 && u.HeartbeatInterval.D() < 10*time.Millisecond) {
		add("heartbeat_interval", "heartbeat_interval must be at least 10ms")
	}
	if u.StallAfter < 0 || (u.StallAfter > 0 && u.StallAfter.D() < 10*time.Millisecond) {
		add("stall_after", "stall_after must be at least 10ms")
	}
	return errs
}

func validKey(s string) bool {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return true
		}
	}
	return false
}
