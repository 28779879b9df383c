//go:build unix

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/drivers/voice"
	"github.com/edgegw/edgegw/drivers/voice/voicetest"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/ptytest"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// voicePeer plays a module on the far end of a pty; the edgegw process
// opens the near end.
func voicePeer(t *testing.T, proto string, tweak func(*voicetest.Peer)) (*voicetest.Peer, string) {
	t.Helper()
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

func waitVoicePeer(t *testing.T, p *voicetest.Peer, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := p.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited for %s; %v", what, p)
		}
	}
}

// TestProbeVoice runs `edgegw probe voice` as a real process against
// module peers: it sends exactly the module's frame, no stray byte, and
// its exit status says whether the module took it.
func TestProbeVoice(t *testing.T) {
	t.Setenv(serialport.LockDirEnv, t.TempDir()) // inherited by the processes

	t.Run("dy play", func(t *testing.T) {
		peer, path := voicePeer(t, "dy", nil)
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "dy", "--play", "1")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, e)
		}
		want := []byte{0xAA, 0x07, 0x02, 0x00, 0x01, 0xB4}
		waitVoicePeer(t, peer, "the frame", func() bool { return len(peer.Raw()) >= len(want) })
		if got := peer.Raw(); !bytes.Equal(got, want) {
			t.Errorf("module got % X, want % X", got, want)
		}
		if !strings.Contains(out, "sent AA 07 02 00 01 B4") {
			t.Errorf("stdout:\n%s", out)
		}
	})

	t.Run("jq8400 volume and combination", func(t *testing.T) {
		peer, path := voicePeer(t, "jq8400", nil)
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "jq8400", "--volume", "20", "--tracks", "1,2")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, e)
		}
		want := []byte{0xAA, 0x13, 0x01, 0x14, 0xD2, 0xAA, 0x1B, 0x04, 0x30, 0x31, 0x30, 0x32, 0x8C}
		waitVoicePeer(t, peer, "the frames", func() bool { return len(peer.Raw()) >= len(want) })
		if got := peer.Raw(); !bytes.Equal(got, want) {
			t.Errorf("module got % X, want % X", got, want)
		}
	})

	t.Run("dy query", func(t *testing.T) {
		_, path := voicePeer(t, "dy", nil)
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "dy", "--query")
		if code != 0 || !strings.Contains(out, "module: stopped") {
			t.Fatalf("exit %d\n%s%s", code, out, e)
		}
	})

	t.Run("syn6288 say", func(t *testing.T) {
		peer, path := voicePeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "syn6288", "--volume", "5", "--say", "请按时分类投放垃圾")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, e)
		}
		text, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("[v5]请按时分类投放垃圾"))
		want := voice.SynthFrame(voice.SYN6288, text)
		if got := peer.Raw(); !bytes.Equal(got, want) { // the module answered: it has it all
			t.Errorf("module got % X\nwant % X", got, want)
		}
		if !strings.Contains(out, "0x41 received") {
			t.Errorf("stdout:\n%s", out)
		}
	})

	t.Run("xfs5152 silent", func(t *testing.T) {
		_, path := voicePeer(t, "xfs5152", func(p *voicetest.Peer) { p.Silent = true })
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "xfs5152", "--say", "你好", "--timeout", "300ms")
		if code != cli.ExitFailure || !strings.Contains(e, "no answer") || !strings.Contains(e, "xfs5152") {
			t.Fatalf("exit %d, want 1 naming the module and no answer\n%s%s", code, out, e)
		}
	})

	t.Run("syn6288 refused", func(t *testing.T) {
		_, path := voicePeer(t, "syn6288", func(p *voicetest.Peer) { p.Refuse = true })
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "syn6288", "--say", "你好")
		if code != cli.ExitFailure || !strings.Contains(e, "0x45") {
			t.Fatalf("exit %d\n%s%s", code, out, e)
		}
	})

	t.Run("usage", func(t *testing.T) {
		_, path := voicePeer(t, "dy", nil)
		for _, args := range [][]string{
			{"--protocol", "dy", "--play", "1"},
			{"--port", path, "--play", "1"},
			{"--port", path, "--protocol", "dy", "--say", "hi"},
			{"--port", path, "--protocol", "syn6288", "--play", "1"},
			{"--port", path, "--protocol", "dy", "--play", "1", "--stop"},
			{"--port", path, "--protocol", "dy", "--volume", "31"},
			{"--port", path, "--protocol", "dy"},
		} {
			out, e, code := edgegw(t, append([]string{"probe", "voice"}, args...)...)
			if code != cli.ExitUsage {
				t.Errorf("%v: exit %d, want %d\n%s%s", args, code, cli.ExitUsage, out, e)
			}
		}
	})

	t.Run("port in use", func(t *testing.T) {
		peer, path := voicePeer(t, "dy", nil)
		held, err := serialport.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		out, e, code := edgegw(t, "probe", "voice", "--port", path, "--protocol", "dy", "--play", "1")
		if code != cli.ExitPortInUse || !strings.Contains(e, "in use") {
			t.Fatalf("exit %d, want %d\n%s%s", code, cli.ExitPortInUse, out, e)
		}
		if got := peer.Raw(); len(got) != 0 {
			t.Errorf("module got % X from a refused probe", got)
		}
	})
}
