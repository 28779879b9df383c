package voice

import (
	"os"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/drivers/voice/voicetest"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestMain keeps the tests' port lock files out of /run/lock.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "voice-locks-")
	if err != nil {
		panic(err)
	}
	os.Setenv(serialport.LockDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newPeer starts a module peer on the far end of a fresh pty pair and
// returns it with the near end's path.
func newPeer(t *testing.T, proto string, tweak func(*voicetest.Peer)) (*voicetest.Peer, string) {
	t.Helper()
	if !ptytest.Supported {
		t.Skip("no pty on this OS")
	}
	pair := ptytest.New(t)
	p := &voicetest.Peer{Proto: proto}
	if tweak != nil {
		tweak(p)
	}
	far := pair.Far()
	done := make(chan struct{})
	go func() { defer close(done); p.Serve(far) }()
	t.Cleanup(func() { pair.Close(); <-done })
	return p, pair.Path()
}

// waitPeer waits until cond holds, re-checking at every change of the
// peer; the test fails after d.
func waitPeer(t *testing.T, p *voicetest.Peer, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		ch := p.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited %v for %s; %v", d, what, p)
		}
	}
}

// newOutput builds an output from YAML options through the registered
// factory, as the gateway does.
func newOutput(t *testing.T, clock edge.Clock, yaml string) *Output {
	t.Helper()
	f, err := edge.LookupOutput(Name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f(edge.Env{Name: "voice", Clock: clock}, drivertest.Options(yaml))
	if err != nil {
		t.Fatalf("options:\n%s\n%v", yaml, err)
	}
	o := out.(*Output)
	t.Cleanup(func() { o.Close() })
	return o
}
