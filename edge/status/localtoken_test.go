package status_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/edge/status/password"
	"github.com/edgegw/edgegw/edge/status/statustest"
)

// busyProvider says the port of output "sign" is held by another program.
type busyProvider struct{ *statustest.Fake }

func (b busyProvider) TestOutput(ctx context.Context, name string) error {
	if name == "sign" {
		return fmt.Errorf("output %q: open /dev/ttyUSB1: %w", name, edge.ErrPortInUse)
	}
	return b.Fake.TestOutput(ctx, name)
}

// notifyLog is a log destination a test can wait on.
type notifyLog struct {
	mu   sync.Mutex
	b    bytes.Buffer
	more chan struct{}
}

func (n *notifyLog) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case n.more <- struct{}{}:
	default:
	}
	return n.b.Write(p)
}

func (n *notifyLog) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		n.mu.Lock()
		got := n.b.String()
		n.mu.Unlock()
		if strings.Contains(got, s) {
			return
		}
		select {
		case <-n.more:
		case <-deadline:
			t.Fatalf("log never said %q:\n%s", s, got)
		}
	}
}

// serveReal runs a status server on a real loopback listener with its
// local token in a temp data dir, and returns its URL, the token path and
// a stop func.
func serveReal(t *testing.T, withPassword bool) (base, tokenPath string, fake *statustest.Fake, stop func()) {
	t.Helper()
	fake = statustest.New(time.Now())
	cfg := config.Status{Listen: "127.0.0.1:0"}
	if withPassword {
		h, err := password.NewWithIterations(testPassword, password.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		cfg.PasswordHash = h
	}
	tokenPath = filepath.Join(t.TempDir(), status.LocalTokenFile)
	logs := &notifyLog{more: make(chan struct{}, 1)}
	s, err := status.New(status.Options{Config: cfg, Provider: busyProvider{fake}, LocalTokenPath: tokenPath,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	logs.waitFor(t, "status server listening")
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return "http://" + ln.Addr().String(), tokenPath, fake, stop
}

func TestLocalTokenTestsOutput(t *testing.T) {
	base, tokenPath, fake, stop := serveReal(t, true)
	fi, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	tok, err := status.ReadLocalToken(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := &status.Client{BaseURL: base, LocalToken: tok}
	if err := c.TestOutput(ctx, "siren"); err != nil {
		t.Fatalf("with the local token: %v", err)
	}
	if got := fmt.Sprint(fake.Tested); got != "[siren]" {
		t.Errorf("tested %s, want [siren]", got)
	}
	if err := c.TestOutput(ctx, "nope"); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("unknown output: got %v, want ErrNotFound", err)
	}
	if err := c.TestOutput(ctx, "sign"); !errors.Is(err, edge.ErrPortInUse) || !strings.Contains(err.Error(), "/dev/ttyUSB1") {
		t.Errorf("port in use: got %v, want ErrPortInUse naming the port", err)
	}
	// A wrong token is refused, not downgraded to a login.
	bad := &status.Client{BaseURL: base, LocalToken: strings.Repeat("0", 64), Password: testPassword}
	if err := bad.TestOutput(ctx, "siren"); err == nil || !strings.Contains(err.Error(), "wrong local token") {
		t.Errorf("wrong token: got %v", err)
	}
	// No token, no password: told how to get in.
	none := &status.Client{BaseURL: base}
	if err := none.TestOutput(ctx, "siren"); !errors.Is(err, status.ErrUnauthorized) || !strings.Contains(err.Error(), "root") {
		t.Errorf("no token: got %v, want ErrUnauthorized with a hint", err)
	}
	// The password works too.
	pw := &status.Client{BaseURL: base, Password: testPassword}
	if err := pw.TestOutput(ctx, "voice"); err != nil {
		t.Errorf("with the password: %v", err)
	}
	wrong := &status.Client{BaseURL: base, Password: "wrong"}
	if err := wrong.TestOutput(ctx, "voice"); !errors.Is(err, status.ErrUnauthorized) {
		t.Errorf("wrong password: got %v", err)
	}
	stop()
	if _, err := os.Stat(tokenPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after stop: %v, want it removed", err)
	}
	if err := c.TestOutput(ctx, "siren"); !errors.Is(err, status.ErrNotRunning) {
		t.Errorf("after stop: got %v, want ErrNotRunning", err)
	}
}

func TestOpenServerTestOutputWithoutToken(t *testing.T) {
	base, _, fake, _ := serveReal(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := (&status.Client{BaseURL: base}).TestOutput(ctx, "voice"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(fake.Tested); got != "[voice]" {
		t.Errorf("tested %s, want [voice]", got)
	}
}

// TestLocalTokenFromAnotherMachine: the right token from a LAN address is
// refused; from the connection's own address (a LAN listen, the client on
// the box) it is accepted.
func TestLocalTokenFromAnotherMachine(t *testing.T) {
	tokenPath := filepath.Join(t.TempDir(), status.LocalTokenFile)
	fake := statustest.New(time.Now())
	h, err := password.NewWithIterations(testPassword, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	logs := &notifyLog{more: make(chan struct{}, 1)}
	s, err := status.New(status.Options{Config: config.Status{Listen: "0.0.0.0:8780", PasswordHash: h}, Provider: fake, LocalTokenPath: tokenPath,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	logs.waitFor(t, "status server listening")
	tok, err := status.ReadLocalToken(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, local string
		want          int
	}{
		{"192.168.1.50:40000", "192.168.1.20:8780", http.StatusForbidden},
		{"192.168.1.20:40000", "192.168.1.20:8780", http.StatusOK},
		{"127.0.0.1:40000", "127.0.0.1:8780", http.StatusOK},
		{"[::1]:40000", "[::1]:8780", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://192.168.1.20:8780/api/outputs/siren/test", nil)
		req.RemoteAddr = tc.remote
		la, _ := net.ResolveTCPAddr("tcp", tc.local)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, la))
		req.Header.Set(status.LocalTokenHeader, tok)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("from %s to %s: got %d %s, want %d", tc.remote, tc.local, rec.Code, rec.Body, tc.want)
		}
	}
}
