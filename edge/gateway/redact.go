package gateway

import (
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge/config"
)

// Redacted replaces a secret in a support bundle.
const Redacted = "<redacted>"

// minScrub is the shortest secret value also scrubbed from the bundle's
// other files: a PIN of four digits would blank every "1234" of the logs,
// and is redacted in the config only.
const minScrub = 6

// RedactConfig re-encodes a YAML config with every secret replaced by
// "<redacted>", and returns the values it replaced. Secrets are the values
// of keys named like a secret (key, secret, password, token, pin, psk,
// auth, credential: uplink.key, status.password_hash, an output's pin...),
// personal data (phone numbers: a rule action's sms, the SMS modem's to),
// any password hash, and the password of a URL (user:pass@host). Keys and
// their order are kept; comments are not (a comment may hold a secret too).
func RedactConfig(raw []byte) ([]byte, []string, error) {
	if err := config.Precheck("config", raw); err != nil {
		return nil, nil, err
	}
	var v any
	if err := yaml.UnmarshalWithOptions(raw, &v, yaml.UseOrderedMap()); err != nil {
		return nil, nil, err
	}
	r := redactor{}
	v = r.value(v, false)
	out, err := yaml.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return append([]byte("# edgegw config, secrets redacted for a support bundle\n"), out...), r.secrets, nil
}

type redactor struct{ secrets []string }

// value redacts v; secret says v is under a secret key.
func (r *redactor) value(v any, secret bool) any {
	switch t := v.(type) {
	case yaml.MapSlice:
		for i := range t {
			k, _ := t[i].Key.(string)
			t[i].Value = r.value(t[i].Value, secret || secretKey(k))
		}
		return t
	case map[string]any:
		for k, x := range t {
			t[k] = r.value(x, secret || secretKey(k))
		}
		return t
	case []any:
		for i := range t {
			t[i] = r.value(t[i], secret)
		}
		return t
	case nil:
		return nil
	case string:
		switch {
		case t == "":
			return t
		case secret, strings.HasPrefix(t, "pbkdf2-"):
			r.keep(t)
			return Redacted
		}
		return r.url(t)
	}
	if secret {
		// A number or a bool under a secret key (pin: 1234).
		return Redacted
	}
	return v
}

func (r *redactor) keep(s string) {
	if len(s) >= minScrub && !slices.Contains(r.secrets, s) {
		r.secrets = append(r.secrets, s)
	}
}

// url redacts the password of a URL with user information.
func (r *redactor) url(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if pw, ok := u.User.Password(); ok {
		r.keep(pw)
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
		return strings.Replace(u.String(), "REDACTED", Redacted, 1)
	}
	return s
}

// secretKey reports whether a config key names a secret or personal data:
// one of its words (split at _ - . and case changes) is key, secret,
// password, token, pin... or sms, phone, to (recipients). "api_key",
// "password_hash", "sim_pin", "sms" are; "mapping", "keepalive",
// "key_file" (a path) are not.
func secretKey(k string) bool {
	words := keyWords(k)
	if n := len(words); n > 1 && (words[n-1] == "file" || words[n-1] == "path" || words[n-1] == "dir") {
		return false // a path to a secret, not the secret
	}
	for _, w := range words {
		switch strings.TrimSuffix(w, "s") {
		case "key", "apikey", "secret", "password", "passwd", "pas", "token", "credential", "pin", "psk", "auth":
			return true
		}
		switch w {
		case "pass", "sms", "phone", "phones", "to", "recipient", "recipients", "msisdn", "mobile":
			return true
		}
	}
	return false
}

func keyWords(k string) []string {
	var words []string
	cur := []rune{}
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, c := range k {
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(c) && prevLower:
			flush()
		}
		cur = append(cur, c)
		prevLower = unicode.IsLower(c)
	}
	flush()
	return words
}

// scrub replaces every secret in data.
func scrub(data []byte, secrets []string) []byte {
	if len(secrets) == 0 {
		return data
	}
	s := string(data)
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, Redacted)
	}
	return []byte(s)
}
