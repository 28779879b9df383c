package camera

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// HTTP digest access authentication (RFC 7616, with the RFC 2069 form
// without qop that old firmware still uses): the client side for pull
// mode, the server side for cameras that post with credentials.

// authParams parses `Digest k=v, k="v, quoted", ...` into its parameters
// (keys lowercased). It returns the scheme and the parameters.
func authParams(h string) (scheme string, params map[string]string) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	params = map[string]string{}
	for i := 0; rest != "" && i < 32; i++ {
		rest = strings.TrimLeft(rest, " ,\t")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					b.WriteByte(rest[j])
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			val = b.String()
			rest = rest[min(j+1, len(rest)):]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		params[key] = val
	}
	return scheme, params
}

// challenge is a server's digest challenge.
type challenge struct {
	realm, nonce, opaque, algorithm string
	qopAuth                         bool
}

// pickChallenge returns the best digest challenge among a 401's
// WWW-Authenticate headers (SHA-256 over MD5), and whether Basic is offered.
func pickChallenge(hs []string) (c challenge, ok, basic bool) {
	for _, h := range hs {
		scheme, p := authParams(h)
		switch strings.ToLower(scheme) {
		case "basic":
			basic = true
			continue
		case "digest":
		default:
			continue
		}
		alg := strings.ToUpper(p["algorithm"])
		if alg == "" {
			alg = "MD5"
		}
		if alg != "MD5" && alg != "SHA-256" {
			continue
		}
		qop := false
		for _, q := range strings.Split(p["qop"], ",") {
			if strings.TrimSpace(q) == "auth" {
				qop = true
			}
		}
		if p["qop"] != "" && !qop {
			continue // auth-int only
		}
		cand := challenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], algorithm: alg, qopAuth: qop}
		if !ok || (alg == "SHA-256" && c.algorithm != "SHA-256") {
			c, ok = cand, true
		}
	}
	return c, ok, basic
}

func hashHex(alg, s string) string {
	var h hash.Hash
	if alg == "SHA-256" {
		h = sha256.New()
	} else {
		h = md5.New()
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// digestResponse is the response value of RFC 7616 section 3.4.1.
func digestResponse(alg, user, realm, pass, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := hashHex(alg, user+":"+realm+":"+pass)
	ha2 := hashHex(alg, method+":"+uri)
	if qop == "" {
		return hashHex(alg, ha1+":"+nonce+":"+ha2)
	}
	return hashHex(alg, ha1+":"+nonce+":"+nc+":"+cnonce+":"+qop+":"+ha2)
}

// authorization is the Authorization header answering c for one request.
func (c challenge) authorization(method, uri, user, pass string, nc uint32) string {
	var cb [12]byte
	_, _ = rand.Read(cb[:])
	cnonce := hex.EncodeToString(cb[:])
	ncs := fmt.Sprintf("%08x", nc)
	qop := ""
	if c.qopAuth {
		qop = "auth"
	}
	resp := digestResponse(c.algorithm, user, c.realm, pass, method, uri, c.nonce, ncs, cnonce, qop)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%q, realm=%q, nonce=%q, uri=%q, algorithm=%s, response=%q`,
		user, c.realm, c.nonce, uri, c.algorithm, resp)
	if c.opaque != "" {
		fmt.Fprintf(&b, `, opaque=%q`, c.opaque)
	}
	if qop != "" {
		fmt.Fprintf(&b, `, qop=auth, nc=%s, cnonce=%q`, ncs, cnonce)
	}
	return b.String()
}

// digestServer checks the credentials of cameras that post with a user
// and password: Basic, or Digest with nonces it made itself (an HMAC of
// their time, so it keeps no state and a nonce expires).
type digestServer struct {
	realm  string
	secret [32]byte
}

const nonceLife = 10 * time.Minute

func newDigestServer(realm string) *digestServer {
	s := &digestServer{realm: realm}
	_, _ = rand.Read(s.secret[:])
	return s
}

func (s *digestServer) nonce(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.Unix()))
	m := hmac.New(sha256.New, s.secret[:])
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(m.Sum(nil)[:16])
}

func (s *digestServer) nonceValid(n string, now time.Time) bool {
	b, err := hex.DecodeString(n)
	if err != nil || len(b) != 24 {
		return false
	}
	m := hmac.New(sha256.New, s.secret[:])
	m.Write(b[:8])
	if !hmac.Equal(m.Sum(nil)[:16], b[8:]) {
		return false
	}
	at := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := now.Sub(at)
	return age >= -time.Minute && age <= nonceLife
}

// challenge sets the WWW-Authenticate headers of a 401.
func (s *digestServer) challenge(h http.Header, now time.Time) {
	h.Add("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, qop="auth", algorithm=MD5, nonce=%q`, s.realm, s.nonce(now)))
	h.Add("WWW-Authenticate", fmt.Sprintf(`Basic realm=%q`, s.realm))
}

// check reports whether r carries user's credentials, by Basic or Digest.
func (s *digestServer) check(r *http.Request, user, pass string, now time.Time) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1
	}
	scheme, p := authParams(r.Header.Get("Authorization"))
	if !strings.EqualFold(scheme, "digest") || p["username"] != user || p["realm"] != s.realm ||
		!s.nonceValid(p["nonce"], now) || p["uri"] != r.URL.RequestURI() {
		return false
	}
	alg := strings.ToUpper(p["algorithm"])
	if alg == "" {
		alg = "MD5"
	}
	if alg != "MD5" && alg != "SHA-256" {
		return false
	}
	qop := p["qop"]
	if qop != "" && qop != "auth" {
		return false
	}
	want := digestResponse(alg, user, s.realm, pass, r.Method, p["uri"], p["nonce"], p["nc"], p["cnonce"], qop)
	return subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) == 1
}
