package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/password"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// logWaiter is a log destination a test can wait on.
type logWaiter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	more chan struct{}
}

func (l *logWaiter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *logWaiter) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		got := l.b.String()
		l.mu.Unlock()
		if strings.Contains(got, s) {
			return
		}
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("the log never said %q:\n%s", s, got)
		}
	}
}

// until waits for cond, checking every millisecond; the test fails after d.
func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}

// TestOutputTestThroughRunningGateway: the gateway (with a real status
// server that has a password) holds the LED sign's port from its start;
// `output test` goes through it with the local token and the sign gets the
// bytes; driving the output directly is refused as the port is in use.
func TestOutputTestThroughRunningGateway(t *testing.T) {
	t.Setenv(serialport.LockDirEnv, t.TempDir())
	sign := ptytest.New(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	hash, err := password.NewWithIterations("pw-for-the-page", password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(`
gateway: {id: gw-outputs}
store: {dir: %q, cap: 64MiB}
status: {listen: %q, password_hash: %q}
outputs:
  - name: sign
    driver: serial
    options: {port: %q, send: "{{.Text}}\r\n"}
`, dir, addr, hash, sign.Path())))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logWaiter{more: make(chan struct{}, 1)}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	g, err := gateway.New(gateway.Options{Config: cfg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.New(status.Options{Config: cfg.Status, Provider: g, Logger: logger,
		LocalTokenPath: filepath.Join(cfg.Store.Dir, status.LocalTokenFile)})
	if err != nil {
		t.Fatal(err)
	}
	g.Add(serveOn{st, ln})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	logs.waitFor(t, "status server listening")
	var locks serialport.Opener
	until(t, 10*time.Second, "the gateway to hold the sign's port", func() bool {
		pid, _, ok := locks.Holder(sign.Path())
		return ok && pid == os.Getpid()
	})

	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer tcancel()
	via, err := gateway.TestOutput(tctx, cfg, "sign", gateway.OutputTestOptions{Logger: logger})
	if err != nil {
		t.Fatalf("output test through %s: %v", via, err)
	}
	if !strings.Contains(via.Error(), "running gateway at http://"+addr) {
		t.Errorf("went through %q, want the running gateway", via)
	}
	sign.Expect([]byte("edgegw test\r\n"), 5*time.Second)

	// Unknown outputs are the gateway's answer, not a direct open.
	if _, err := gateway.TestOutput(tctx, cfg, "nope", gateway.OutputTestOptions{}); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("unknown output: got %v, want ErrNotFound", err)
	}

	// Driving the output directly while the gateway holds it: refused.
	start := time.Now()
	err = gateway.TestOutputOnce(tctx, cfg, "sign", edge.DiscardLogger())
	if !errors.Is(err, edge.ErrPortInUse) || !strings.Contains(err.Error(), sign.Path()) {
		t.Fatalf("direct test: got %v, want the port in use", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused after %v, want within 5s", d)
	}
	if got := cli.ExitCode(fmt.Errorf("output %q: %w", "sign", err)); got != cli.ExitPortInUse {
		t.Errorf("exit code %d, want %d", got, cli.ExitPortInUse)
	}
	// The gateway's output is unharmed: a second test still works.
	if _, err := gateway.TestOutput(tctx, cfg, "sign", gateway.OutputTestOptions{}); err != nil {
		t.Fatalf("second test: %v", err)
	}
	sign.Expect([]byte("edgegw test\r\n"), 5*time.Second)
}

// TestOutputTestWithoutGateway: nobody answers at the status address, so
// the command drives the output itself, and only that output.
func TestOutputTestWithoutGateway(t *testing.T) {
	t.Setenv(serialport.LockDirEnv, t.TempDir())
	sign := ptytest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(`
gateway: {id: gw-outputs}
store: {dir: %q, cap: 64MiB}
status: {listen: %q}
outputs:
  - name: sign
    driver: serial
    options: {port: %q, send: "{{.Text}}\r\n"}
  - name: voice
    driver: serial
    options: {port: %q, send: "PLAY 1\r\n"}
`, t.TempDir(), addr, sign.Path(), filepath.Join(t.TempDir(), "no-such-port"))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	via, err := gateway.TestOutput(ctx, cfg, "sign", gateway.OutputTestOptions{})
	if err != nil {
		t.Fatalf("through %s: %v", via, err)
	}
	if !strings.Contains(via.Error(), "this command") {
		t.Errorf("went through %q, want this command", via)
	}
	sign.Expect([]byte("edgegw test\r\n"), 5*time.Second)
	if _, err := gateway.TestOutput(ctx, cfg, "nope", gateway.OutputTestOptions{}); err == nil || !strings.Contains(err.Error(), "outputs: sign, voice") {
		t.Errorf("unknown output: got %v, want the outputs listed", err)
	}
}

// serveOn runs the status server on a listener the test opened.
type serveOn struct {
	s  *status.Server
	ln net.Listener
}

func (c serveOn) Run(ctx context.Context) error { return c.s.Serve(ctx, c.ln) }
