//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus/modbustest"
	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/drivers/voice/voicetest"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// atModem answers a GSM modem's AT commands on a pty, as a SIM800 does in
// text mode, and records the messages sent.
type atModem struct {
	mu   sync.Mutex
	sent []string
}

func (m *atModem) serve(rw *os.File) {
	r := bufio.NewReader(rw)
	var buf bytes.Buffer
	inText := false
	for {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		switch {
		case inText && b == 0x1a:
			m.mu.Lock()
			m.sent = append(m.sent, buf.String())
			m.mu.Unlock()
			buf.Reset()
			inText = false
			rw.Write([]byte("\r\n+CMGS: 7\r\n\r\nOK\r\n"))
		case inText:
			buf.WriteByte(b)
		case b == 0x1b:
			buf.Reset()
		case b == '\r':
			cmd := strings.TrimSpace(buf.String())
			buf.Reset()
			switch {
			case cmd == "":
			case strings.HasPrefix(cmd, "AT+CMGS="):
				inText = true
				rw.Write([]byte("\r\n> "))
			case strings.HasPrefix(cmd, "AT"):
				rw.Write([]byte("\r\nOK\r\n"))
			}
		default:
			buf.WriteByte(b)
		}
	}
}

func (m *atModem) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

// TestEveryExampleOutput: every output of `edgegw init`'s example works
// with `edgegw output test`, each against a peer that speaks its device's
// protocol on a pty: the MP3 and TTS voice modules, the LED sign (text
// line), the siren's Modbus relay board (a Modbus RTU slave), the GSM
// modem (AT commands). The GPIO relay needs a GPIO chip, which this
// machine has not: it is tested in drivers/gpio against the fake chip
// behind the same interface.
func TestEveryExampleOutput(t *testing.T) {
	t.Setenv(serialport.LockDirEnv, t.TempDir())
	mp3, mp3Path := voicePeer(t, "dy", nil)
	tts, ttsPath := voicePeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })

	sign := ptytest.New(t)
	siren := ptytest.New(t)
	slave := modbustest.New(map[byte]*modbustest.Bank{10: {Coils: make([]bool, 8)}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go slave.Serve(ctx, siren.Far())
	modem := ptytest.New(t)
	at := &atModem{}
	go at.serve(modem.Far())

	cfg := string(config.Example())
	for old, new := range map[string]string{
		"port: /dev/ttyUSB2 ":    "port: " + mp3Path + " ",
		"port: /dev/ttyUSB5 ":    "port: " + ttsPath + " ",
		"port: /dev/ttyS1\n":     "port: " + sign.Path() + "\n",
		"port: /dev/ttyUSB1\n":   "port: " + siren.Path() + "\n",
		"port: /dev/ttyUSB4 ":    "port: " + modem.Path() + " ",
		"listen: 127.0.0.1:8780": "listen: off",
		"dir: /var/lib/edgegw":   "dir: " + filepath.Join(t.TempDir(), "data"),
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the example has no %q", old)
		}
		// The siren's port is the RS-485 bus of the sensors' input too:
		// replace it everywhere it is named.
		if strings.HasPrefix(old, "port: /dev/ttyUSB1") {
			cfg = strings.ReplaceAll(cfg, old, new)
			continue
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	f := filepath.Join(t.TempDir(), "edgegw.yaml")
	os.WriteFile(f, []byte(cfg), 0o600)
	run := func(name string) {
		t.Helper()
		out, e, code := edgegw(t, "output", "test", name, "--config", f)
		if code != 0 {
			t.Errorf("output test %s: exit %d\n%s%s", name, code, out, e)
		}
	}
	for _, name := range []string{"voice", "gate-tts", "sign", "siren", "sms"} {
		run(name)
	}
	waitVoicePeer(t, mp3, "the MP3 test track", func() bool { return len(mp3.Frames()) >= 2 })
	if got := tts.Texts(); len(got) != 1 {
		t.Errorf("TTS module said %q", got)
	}
	if got := string(sign.Expect([]byte("edgegw test\r\n"), 5*time.Second)); !strings.HasSuffix(got, "edgegw test\r\n") {
		t.Errorf("the sign got %q", got)
	}
	// The siren's test switches coil 0 on, then off again.
	if n := slave.Served(); n < 2 {
		t.Errorf("the relay board served %d requests, want on and off", n)
	}
	if msgs := at.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "edgegw test") {
		t.Errorf("the modem sent %q", msgs)
	}
	if !strings.Contains(cfg, "driver: gpio") {
		t.Errorf("the example lost its GPIO relay: update this test")
	}
}
