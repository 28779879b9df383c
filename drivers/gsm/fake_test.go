package gsm

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/edgegw/edgegw/internal/ptytest"
)

// fakeModem speaks the modem's side of the AT dialogue on the far end of a
// real pty: echo until ATE0, text mode, the > prompt, and a scripted answer
// to each SMS.
type fakeModem struct {
	p *ptytest.Pair

	mu      sync.Mutex
	echo    bool
	charset string
	cmds    []string
	sms     []sms
	cmgs    chan string // number of each AT+CMGS, as it arrives
	// answer decides the reply to the n-th SMS (0-based): the text after
	// Ctrl-Z and how long to wait before it. "" means no answer at all.
	answer func(n int, to, text string) (string, time.Duration)
}

type sms struct{ to, text string }

func newFakeModem(t *testing.T, answer func(n int, to, text string) (string, time.Duration)) *fakeModem {
	f := &fakeModem{p: ptytest.New(t), echo: true, charset: "IRA", answer: answer, cmgs: make(chan string, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func ok(string) (string, time.Duration) { return "\r\n+CMGS: 7\r\n\r\nOK\r\n", 0 }

func (f *fakeModem) run(ctx context.Context) {
	var buf []byte
	var to string
	textMode := false
	rd := make([]byte, 512)
	for ctx.Err() == nil {
		n, _ := f.p.ReadTimeout(rd, 20*time.Millisecond)
		buf = append(buf, rd[:n]...)
		for {
			if textMode {
				i := bytes.IndexByte(buf, 0x1a)
				if j := bytes.IndexByte(buf, 0x1b); j >= 0 && (i < 0 || j < i) {
					buf, textMode = buf[j+1:], false // ESC: abandon
					continue
				}
				if i < 0 {
					break
				}
				text := string(buf[:i])
				buf, textMode = buf[i+1:], false
				f.mu.Lock()
				cs := f.charset
				if cs == "UCS2" {
					to, text = unUCS2(to), unUCS2(text)
				}
				k := len(f.sms)
				f.sms = append(f.sms, sms{to, text})
				f.mu.Unlock()
				reply, delay := f.answer(k, to, text)
				if delay > 0 {
					select {
					case <-time.After(delay):
					case <-ctx.Done():
						return
					}
				}
				if reply != "" {
					f.p.Write([]byte(reply))
				}
				continue
			}
			i := bytes.IndexByte(buf, '\r')
			if i < 0 {
				break
			}
			cmd := strings.TrimLeft(string(buf[:i]), "\x1b\n")
			buf = buf[i+1:]
			if cmd == "" {
				continue
			}
			f.mu.Lock()
			f.cmds = append(f.cmds, cmd)
			if f.echo {
				f.p.Write([]byte(cmd + "\r"))
			}
			resp := "\r\nOK\r\n"
			switch {
			case cmd == "ATE0":
				f.echo = false
			case strings.HasPrefix(cmd, `AT+CSCS="`):
				f.charset = strings.Trim(cmd[len("AT+CSCS="):], `"`)
			case strings.HasPrefix(cmd, `AT+CMGS="`):
				to = strings.Trim(cmd[len("AT+CMGS="):], `"`)
				textMode = true
				resp = "\r\n> "
				f.cmgs <- to
			case cmd == "AT" || cmd == "AT+CMGF=1" || strings.HasPrefix(cmd, "AT+CSMP="):
			default:
				resp = "\r\nERROR\r\n"
			}
			f.mu.Unlock()
			f.p.Write([]byte(resp))
		}
	}
}

func unUCS2(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || len(b)%2 != 0 {
		return "!bad ucs2 " + h
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

func (f *fakeModem) messages() []sms {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sms(nil), f.sms...)
}

// logBuf is a log destination a test can wait on.
type logBuf struct {
	mu   sync.Mutex
	b    bytes.Buffer
	more chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{more: make(chan struct{}, 1)} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// line returns the first log line containing s.
func (l *logBuf) line(s string) string {
	for _, ln := range strings.Split(l.String(), "\n") {
		if strings.Contains(ln, s) {
			return ln
		}
	}
	return ""
}

func (l *logBuf) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("waited %v for %q in the log:\n%s", d, s, l.String())
		}
	}
}

func (f *fakeModem) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}
