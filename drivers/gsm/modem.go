package gsm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/edgegw/edgegw/edge"
	bugserial "go.bug.st/serial"
)

// ErrNoAnswer is returned when the modem did not answer in time.
var ErrNoAnswer = errors.New("modem did not answer")

// ModemError is a final result code other than OK: ERROR, +CME ERROR: n,
// +CMS ERROR: n.
type ModemError struct {
	Kind string // "ERROR", "+CME ERROR", "+CMS ERROR"
	Code int    // -1 when the modem gave none
	Text string // the modem's text when the code was not numeric
}

func (e *ModemError) Error() string {
	if e.Code < 0 {
		if e.Text != "" {
			return e.Kind + ": " + e.Text
		}
		return e.Kind
	}
	if name := e.Name(); name != "" {
		return fmt.Sprintf("%s: %d (%s)", e.Kind, e.Code, name)
	}
	return fmt.Sprintf("%s: %d", e.Kind, e.Code)
}

// Name is the 3GPP TS 27.005 name of a +CMS ERROR code ("" if unknown).
func (e *ModemError) Name() string {
	if e.Kind == "+CMS ERROR" {
		return cmsNames[e.Code]
	}
	if e.Kind == "+CME ERROR" {
		return cmeNames[e.Code]
	}
	return ""
}

// Transient reports whether trying again later may succeed.
func (e *ModemError) Transient() bool {
	if e.Kind != "+CMS ERROR" {
		return e.Kind == "+CME ERROR" && (e.Code == 14 || e.Code == 30 || e.Code == 31) // SIM busy, no network, network timeout
	}
	switch e.Code {
	case 38, 41, 42, 47, 314, 331, 332, 500:
		return true
	}
	return false
}

var cmsNames = map[int]string{
	1: "unassigned number", 8: "operator determined barring", 10: "call barred",
	21: "short message transfer rejected", 27: "destination out of service",
	28: "unidentified subscriber", 29: "facility rejected", 30: "unknown subscriber",
	38: "network out of order", 41: "temporary failure", 42: "congestion",
	47: "resources unavailable", 50: "requested facility not subscribed",
	69: "requested facility not implemented", 81: "invalid short message transfer reference",
	95: "invalid message", 96: "invalid mandatory information", 97: "message type non-existent",
	98: "message not compatible with protocol state", 99: "information element non-existent",
	111: "protocol error", 127: "interworking unspecified",
	300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
	303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
	310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure",
	314: "SIM busy", 315: "SIM wrong", 316: "SIM PUK required", 317: "SIM PIN2 required",
	318: "SIM PUK2 required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
	330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
	340: "no +CNMA acknowledgement expected", 500: "unknown error",
}

var cmeNames = map[int]string{
	3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
	11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
	15: "SIM wrong", 30: "no network service", 31: "network timeout", 100: "unknown",
}

// parseFinal recognises a final result code line; ok is false for other lines.
func parseFinal(line string) (err error, ok bool) {
	switch {
	case line == "OK":
		return nil, true
	case line == "ERROR":
		return &ModemError{Kind: "ERROR", Code: -1}, true
	case strings.HasPrefix(line, "+CMS ERROR:"):
		return codeErr("+CMS ERROR", line[len("+CMS ERROR:"):]), true
	case strings.HasPrefix(line, "+CME ERROR:"):
		return codeErr("+CME ERROR", line[len("+CME ERROR:"):]), true
	}
	return nil, false
}

func codeErr(kind, rest string) *ModemError {
	rest = strings.TrimSpace(rest)
	if n, err := strconv.Atoi(rest); err == nil {
		return &ModemError{Kind: kind, Code: n}
	}
	return &ModemError{Kind: kind, Code: -1, Text: rest}
}

// modem speaks the AT dialogue on an open port.
type modem struct {
	port    bugserial.Port
	clock   edge.Clock
	buf     []byte
	charset string // the charset set with AT+CSCS
	read    []byte
}

func newModem(p bugserial.Port, clock edge.Clock) (*modem, error) {
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = edge.SystemClock{}
	}
	return &modem{port: p, clock: clock, read: make([]byte, 256)}, nil
}

// fill reads more bytes into buf; it returns false when deadline passed.
func (m *modem) fill(ctx context.Context, deadline time.Time) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !m.clock.Now().Before(deadline) {
		return ErrNoAnswer
	}
	n, err := m.port.Read(m.read)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	m.buf = append(m.buf, m.read[:n]...)
	if len(m.buf) > 64<<10 { // a babbling line: keep the tail only
		m.buf = append(m.buf[:0], m.buf[len(m.buf)-1024:]...)
	}
	return nil
}

// line returns the next non-empty line, or the prompt "> " when prompt is
// true and the modem sent it.
func (m *modem) line(ctx context.Context, deadline time.Time, prompt bool) (string, error) {
	for {
		// Drop line ends in front.
		i := 0
		for i < len(m.buf) && (m.buf[i] == '\r' || m.buf[i] == '\n') {
			i++
		}
		m.buf = m.buf[i:]
		if prompt && len(m.buf) > 0 && m.buf[0] == '>' {
			m.buf = bytes.TrimPrefix(m.buf[1:], []byte(" "))
			return ">", nil
		}
		if j := bytes.IndexAny(m.buf, "\r\n"); j >= 0 {
			l := string(m.buf[:j])
			m.buf = m.buf[j:]
			return strings.TrimSpace(l), nil
		}
		if err := m.fill(ctx, deadline); err != nil {
			return "", err
		}
	}
}

// flush drops what the modem said before the next command: the late answer
// to a command that timed out (even one before the port was last reopened:
// the OS keeps it in the input queue) would otherwise be taken for the
// answer to the next.
func (m *modem) flush() {
	m.buf = m.buf[:0]
	m.port.ResetInputBuffer()
}

func (m *modem) write(b []byte) error {
	for len(b) > 0 {
		n, err := m.port.Write(b)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n == 0 {
			return errors.New("write: port accepted no bytes")
		}
		b = b[n:]
	}
	return nil
}

// command sends cmd and waits for its final result code; it returns the
// information lines before it.
func (m *modem) command(ctx context.Context, cmd string, timeout time.Duration) ([]string, error) {
	m.flush()
	if err := m.write([]byte(cmd + "\r")); err != nil {
		return nil, err
	}
	deadline := m.clock.Now().Add(timeout)
	var info []string
	for {
		l, err := m.line(ctx, deadline, false)
		if err != nil {
			return info, fmt.Errorf("%s: %w", cmd, err)
		}
		if l == cmd { // echo
			continue
		}
		if ferr, ok := parseFinal(l); ok {
			if ferr != nil {
				return info, fmt.Errorf("%s: %w", cmd, ferr)
			}
			return info, nil
		}
		info = append(info, l)
	}
}

// init puts the modem in text mode without echo.
func (m *modem) init(ctx context.Context, timeout time.Duration) error {
	// A modem left in the text prompt by a crash eats commands: ESC leaves it.
	m.write([]byte{0x1b, '\r'})
	if err := edge.Sleep(ctx, m.clock, 20*time.Millisecond); err != nil {
		return err
	}
	m.flush()
	for _, c := range []string{"AT", "ATE0", "AT+CMGF=1"} {
		if _, err := m.command(ctx, c, timeout); err != nil {
			return err
		}
	}
	m.charset = ""
	return nil
}

// setCharset switches between IRA (ASCII) and UCS2 text when needed.
func (m *modem) setCharset(ctx context.Context, ucs2 bool, timeout time.Duration) error {
	want := "IRA"
	if ucs2 {
		want = "UCS2"
	}
	if m.charset == want {
		return nil
	}
	if _, err := m.command(ctx, `AT+CSCS="`+want+`"`, timeout); err != nil {
		return err
	}
	dcs := "0"
	if ucs2 {
		dcs = "8"
	}
	if _, err := m.command(ctx, "AT+CSMP=17,167,0,"+dcs, timeout); err != nil {
		return err
	}
	m.charset = want
	return nil
}

// send sends one SMS and returns the message reference.
func (m *modem) send(ctx context.Context, to, text string, cmdTimeout, sendTimeout time.Duration) (int, error) {
	ucs2 := needsUCS2(text)
	if err := m.setCharset(ctx, ucs2, cmdTimeout); err != nil {
		return 0, err
	}
	num, body := to, text
	if ucs2 {
		num, body = ucs2Hex(to), ucs2Hex(text)
	}
	cmd := `AT+CMGS="` + num + `"`
	m.flush()
	if err := m.write([]byte(cmd + "\r")); err != nil {
		return 0, err
	}
	deadline := m.clock.Now().Add(cmdTimeout)
	for {
		l, err := m.line(ctx, deadline, true)
		if err != nil {
			m.write([]byte{0x1b}) // leave the prompt if it comes late
			return 0, fmt.Errorf("waiting for the > prompt: %w", err)
		}
		if l == ">" {
			break
		}
		if ferr, ok := parseFinal(l); ok {
			if ferr == nil {
				ferr = errors.New("OK without a > prompt")
			}
			return 0, ferr
		}
	}
	if err := m.write(append([]byte(body), 0x1a)); err != nil {
		return 0, err
	}
	deadline = m.clock.Now().Add(sendTimeout)
	mr := -1
	for {
		l, err := m.line(ctx, deadline, false)
		if err != nil {
			return 0, fmt.Errorf("waiting for +CMGS: %w", err)
		}
		if rest, ok := strings.CutPrefix(l, "+CMGS:"); ok {
			mr, _ = strconv.Atoi(strings.TrimSpace(rest))
			continue
		}
		if ferr, ok := parseFinal(l); ok {
			if ferr != nil {
				return 0, ferr
			}
			if mr < 0 {
				return 0, errors.New("OK without +CMGS")
			}
			return mr, nil
		}
	}
}

func needsUCS2(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] < 0x20 && s[i] != '\n' && s[i] != '\r') {
			return true
		}
	}
	return false
}

func ucs2Hex(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{byte(u >> 8), byte(u)})))
	}
	return b.String()
}

// split cuts text into parts that fit one SMS each: 160 ASCII characters
// or 70 UTF-16 units. (Concatenated SMS needs PDU mode; separate parts
// reach every phone.)
func split(text string) []string {
	if !needsUCS2(text) {
		var parts []string
		for len(text) > 160 {
			parts = append(parts, text[:160])
			text = text[160:]
		}
		return append(parts, text)
	}
	var parts []string
	var cur []rune
	units := 0
	for _, r := range text {
		n := len(utf16.Encode([]rune{r}))
		if units+n > 70 {
			parts = append(parts, string(cur))
			cur, units = nil, 0
		}
		cur = append(cur, r)
		units += n
	}
	return append(parts, string(cur))
}
