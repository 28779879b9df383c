package status

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// The local token lets a command on the gateway's own machine (`edgegw
// output test`) drive the test endpoint of the running gateway when the
// status page has a password, without knowing the password:
//
//   - the server makes a random token at start and writes it to
//     Options.LocalTokenPath (the data directory, mode 0600: readable only
//     by the gateway's user and root), and removes it when it stops;
//   - a request carrying it in the LocalTokenHeader is accepted only from
//     this machine (the peer is loopback, or the connection's own local
//     address: a packet from another host cannot carry it) and only on the
//     output-test endpoint;
//   - browsers cannot send a custom header cross-site without a CORS
//     preflight, which this server never grants, so the header needs no
//     CSRF token; a wrong or remote token is refused, never downgraded to
//     the other checks.
const (
	// LocalTokenHeader carries the local token.
	LocalTokenHeader = "X-Edgegw-Local-Token"
	// LocalTokenFile is the token file's name in the data directory.
	LocalTokenFile = "status-local.token"
)

// maxLocalToken bounds what a client reads of the token file.
const maxLocalToken = 256

// writeLocalToken writes the token to its file, atomically and readable by
// this user only, and returns a func that removes it. No path: nothing.
func (s *Server) writeLocalToken() func() {
	path := s.opts.LocalTokenPath
	if path == "" {
		return func() {}
	}
	if err := writeSecret(path, []byte(s.localToken+"\n")); err != nil {
		s.log.Warn("status local token not written: `edgegw output test` needs the password", "path", path, "err", err)
		return func() {}
	}
	return func() {
		// Only ours: another server may have replaced it since.
		if b, err := edge.ReadFileLimit(path, maxLocalToken); err == nil && strings.TrimSpace(string(b)) == s.localToken {
			os.Remove(path)
		}
	}
}

func writeSecret(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".status-local-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadLocalToken reads the token a running gateway wrote at path.
func ReadLocalToken(path string) (string, error) {
	b, err := edge.ReadFileLimit(path, maxLocalToken)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return tok, nil
}

// localOr lets a request with the local token through to local, and every
// other request to other.
func (s *Server) localOr(local, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(LocalTokenHeader)
		if tok == "" {
			other.ServeHTTP(w, r)
			return
		}
		if !fromThisMachine(r) {
			s.log.Warn("status local token from another machine refused", "client", clientAddr(r))
			jsonError(w, http.StatusForbidden, "the local token is accepted from this machine only")
			return
		}
		if s.opts.LocalTokenPath == "" || !tokenEqual(tok, s.localToken) {
			jsonError(w, http.StatusForbidden, "wrong local token (the gateway restarted? run the command again)")
			return
		}
		local.ServeHTTP(w, r)
	})
}

// fromThisMachine: the peer is loopback, or has the address the
// connection arrived at (a connection to one's own LAN address).
func fromThisMachine(r *http.Request) bool {
	peer := net.ParseIP(clientAddr(r))
	if peer == nil {
		return false
	}
	if peer.IsLoopback() {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(la.String())
	if err != nil {
		return false
	}
	local := net.ParseIP(host)
	return local != nil && local.Equal(peer)
}
