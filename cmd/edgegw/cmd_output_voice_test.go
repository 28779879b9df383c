//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/drivers/voice/voicetest"
	"github.com/edgegw/edgegw/edge/config"
)

// TestExampleVoiceOutputsTest: the voice outputs of `edgegw init`'s example
// work with `edgegw output test` (the example once had a raw serial "PLAY
// {{.track}}" that failed it with "map has no entry for key track"): the
// MP3 module gets the test track at the configured volume, the TTS module
// the test sentence.
func TestExampleVoiceOutputsTest(t *testing.T) {
	t.Setenv(serialport.LockDirEnv, t.TempDir())
	mp3, mp3Path := voicePeer(t, "dy", nil)
	tts, ttsPath := voicePeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })
	cfg := string(config.Example())
	for old, new := range map[string]string{
		"port: /dev/ttyUSB2 ":    "port: " + mp3Path + " ",
		"port: /dev/ttyUSB5 ":    "port: " + ttsPath + " ",
		"listen: 127.0.0.1:8780": "listen: off",
		"dir: /var/lib/edgegw":   "dir: " + filepath.Join(t.TempDir(), "data"),
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the example has no %q", old)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	f := filepath.Join(t.TempDir(), "edgegw.yaml")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"voice", "gate-tts"} {
		out, e, code := edgegw(t, "output", "test", name, "--config", f)
		if code != 0 {
			t.Fatalf("output test %s: exit %d\n%s%s", name, code, out, e)
		}
	}
	// Volume 24 (or the quiet 8 at night), then track 1.
	waitVoicePeer(t, mp3, "the test track", func() bool { return len(mp3.Frames()) == 2 })
	if fs := mp3.Frames(); fs[0].Cmd != 0x13 || fs[1].Cmd != 0x07 || fs[1].Data[1] != 1 {
		t.Errorf("MP3 module: %v", mp3)
	}
	if got := tts.Texts(); len(got) != 1 || !strings.HasSuffix(got[0], "语音播报测试") {
		t.Errorf("TTS module said %q", got)
	}
}
