package camera

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

// fakeCamera is an HTTP camera on 127.0.0.1 that serves an event stream
// behind digest auth (MD5, qop=auth, as Hikvision and Dahua firmware do),
// written from the ISAPI and Dahua HTTP API documents, not from our
// client. Each connection gets the next script; a script's parts are sent
// and then the connection is dropped, unless hold is set.
type fakeCamera struct {
	t        *testing.T
	user     string
	pass     string
	boundary string
	ctype    string // multipart/mixed or multipart/x-mixed-replace
	scripts  [][]rawPart
	hold     bool // keep the last connection open until the test ends

	conns    atomic.Int32
	rejected atomic.Int32
	changed  chan struct{} // a connection or a rejection happened
	url      string
	stop     chan struct{}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitUntil waits for cond, looking again each time changed fires.
func waitUntil(t *testing.T, changed chan struct{}, cond func() bool, fail func()) {
	t.Helper()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-changed:
		case <-deadline:
			fail()
			return
		}
	}
}

type rawPart struct {
	ctype string
	body  []byte
}

var digestField = regexp.MustCompile(`(\w+)=(?:"([^"]*)"|([^,\s]*))`)

func (c *fakeCamera) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Digest ") {
		return false
	}
	f := map[string]string{}
	for _, m := range digestField.FindAllStringSubmatch(h[7:], -1) {
		f[m[1]] = m[2] + m[3]
	}
	md := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	ha1 := md(c.user + ":Login to 4L0DD7EPAZ:" + c.pass)
	ha2 := md(r.Method + ":" + f["uri"])
	want := md(ha1 + ":" + f["nonce"] + ":" + f["nc"] + ":" + f["cnonce"] + ":" + f["qop"] + ":" + ha2)
	return f["username"] == c.user && f["nonce"] == "5a1c9e7d3b" && f["qop"] == "auth" && f["response"] == want &&
		f["uri"] == r.URL.RequestURI()
}

func (c *fakeCamera) start() {
	c.stop, c.changed = make(chan struct{}), make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.authorized(r) {
			if r.Header.Get("Authorization") != "" {
				c.rejected.Add(1)
				notify(c.changed)
			}
			w.Header().Set("WWW-Authenticate", `Digest qop="auth", realm="Login to 4L0DD7EPAZ", nonce="5a1c9e7d3b", stale="FALSE"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="Login to 4L0DD7EPAZ"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n := int(c.conns.Add(1)) - 1
		notify(c.changed)
		w.Header().Set("Content-Type", c.ctype+"; boundary="+c.boundary)
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		if n < len(c.scripts) {
			for _, p := range c.scripts[n] {
				fmt.Fprintf(w, "--%s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", c.boundary, p.ctype, len(p.body))
				w.Write(p.body)
				w.Write([]byte("\r\n"))
				fl.Flush()
			}
		}
		if c.hold && n >= len(c.scripts)-1 {
			select {
			case <-r.Context().Done():
			case <-c.stop:
			}
		}
	})}
	go srv.Serve(ln)
	c.url = "http://" + ln.Addr().String()
	c.t.Cleanup(func() { close(c.stop); srv.Close() })
}

func waitConns(t *testing.T, c *fakeCamera, n int32) {
	t.Helper()
	waitUntil(t, c.changed, func() bool { return c.conns.Load() >= n },
		func() { t.Fatalf("camera got %d connections, want %d", c.conns.Load(), n) })
}

// TestPullISAPI: alertStream behind digest auth; the camera drops the
// stream and the driver reconnects; a picture part after its alarm is kept.
func TestPullISAPI(t *testing.T) {
	active := readTestdata(t, "isapi_v20_linedetection.xml")
	inactive := bytes.Replace(active, []byte(">active<"), []byte(">inactive<"), 1)
	keep := readTestdata(t, "isapi_prefixed_videoloss.xml")
	cam := &fakeCamera{t: t, user: "admin", pass: "Hik12345", boundary: "boundary", ctype: "multipart/mixed",
		scripts: [][]rawPart{
			{{"application/xml; charset=\"UTF-8\"", active}, {"image/jpeg", fakeJPEG(4096)}, {"application/xml", keep}},
			{{"application/xml", []byte("<broken")}, {"application/xml", keep}, {"application/xml", inactive}},
		}, hold: true}
	cam.start()
	dir := t.TempDir()
	r := start(t, fmt.Sprintf(`
reconnect_min: 10ms
reconnect_max: 20ms
pictures: {dir: %s}
cameras:
  - id: gate
    pull: isapi
    url: %s/ISAPI/Event/notification/alertStream
    user: admin
    password: Hik12345
    devices:
      - id: cam-gate
        events: [{type: linedetection, point: line}]
`, dir, cam.url), nil)
	r.sink.WaitFor(t, 0, wait, "online", drivertest.IsStatus("cam-gate", true))
	i := r.sink.WaitFor(t, 0, wait, "active", isState("cam-gate", "line", "active"))
	r.sink.WaitFor(t, i, wait, "picture", func(e edge.Event) bool { return e.Point == "line_picture" && e.Value == 4096 })
	// Dropped: offline, then online again on the second connection.
	j := r.sink.WaitFor(t, i, wait, "offline", drivertest.IsStatus("cam-gate", false))
	j = r.sink.WaitFor(t, j, wait, "online again", drivertest.IsStatus("cam-gate", true))
	r.sink.WaitFor(t, j, wait, "inactive", isState("cam-gate", "line", "inactive"))
	c := r.d.Counters()
	if c.KeepAlives != 2 || c.Malformed != 1 || c.Pictures != 1 {
		t.Errorf("counters %+v, want 2 keep-alives, 1 malformed, 1 picture", c)
	}
	if s := r.d.Stats(); s[0].Reconnects != 1 || s[0].Garbage != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestPullDahua: the attach stream (multipart/x-mixed-replace, text
// parts) with digest auth, dropped and reopened.
func TestPullDahua(t *testing.T) {
	cam := &fakeCamera{t: t, user: "admin", pass: "dh-pass", boundary: "myboundary", ctype: "multipart/x-mixed-replace",
		scripts: [][]rawPart{
			{{"text/plain", []byte("Code=CrossLineDetection;action=Start;index=0\r\n\r\n")}, {"text/plain", []byte("Heartbeat")}},
			{{"text/plain", []byte("Code=CrossRegionDetection;action=Start;index=1;data={\n\"Name\":\"east\"\n}")},
				{"text/plain", []byte("Code=CrossLineDetection;action=Stop;index=0")}},
		}, hold: true}
	cam.start()
	r := start(t, fmt.Sprintf(`
reconnect_min: 10ms
reconnect_max: 20ms
cameras:
  - id: dh
    pull: dahua
    url: %s/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=20
    user: admin
    password: dh-pass
    devices:
      - id: dh-1
        events: [{type: CrossLineDetection, point: line, on: crossed, off: clear}]
      - id: dh-2
        channel: 2
        events: [{type: crossregiondetection, point: intrusion}]
`, cam.url), nil)
	i := r.sink.WaitFor(t, 0, wait, "crossed", isState("dh-1", "line", "crossed"))
	r.sink.WaitFor(t, i, wait, "intrusion", isState("dh-2", "intrusion", "active"))
	r.sink.WaitFor(t, i, wait, "clear", isState("dh-1", "line", "clear"))
	if c := r.d.Counters(); c.KeepAlives != 1 {
		t.Errorf("counters %+v, want 1 keep-alive", c)
	}
	if cam.conns.Load() != 2 {
		t.Errorf("got %d connections, want 2", cam.conns.Load())
	}
}

// TestPullWrongPassword: the camera refuses; the devices go offline with
// the reason, and the driver keeps trying with backoff.
func TestPullWrongPassword(t *testing.T) {
	cam := &fakeCamera{t: t, user: "admin", pass: "right", boundary: "b", ctype: "multipart/mixed"}
	cam.start()
	r := start(t, fmt.Sprintf(`
reconnect_min: 10ms
reconnect_max: 20ms
cameras:
  - id: c
    pull: isapi
    url: %s/ISAPI/Event/notification/alertStream
    user: admin
    password: wrong
    devices: [{id: c-1, events: [{type: linedetection}]}]
`, cam.url), nil)
	i := r.sink.WaitFor(t, 0, wait, "offline", drivertest.IsStatus("c-1", false))
	if ev := r.sink.Events()[i]; !strings.Contains(ev.Text, "401") {
		t.Errorf("offline reason %q does not say 401", ev.Text)
	}
	waitUntil(t, cam.changed, func() bool { return cam.rejected.Load() >= 3 },
		func() { t.Fatalf("only %d attempts", cam.rejected.Load()) })
	if n := r.sink.Len(); n != 1 {
		t.Errorf("got %d events, want the one offline: %+v", n, r.sink.Events())
	}
}

// TestPullIdle: a stream that brings nothing for idle_timeout is dropped
// and reopened (on a fake clock).
func TestPullIdle(t *testing.T) {
	cam := &fakeCamera{t: t, user: "u", pass: "p", boundary: "b", ctype: "multipart/mixed",
		scripts: [][]rawPart{{}}, hold: true}
	cam.start()
	clk := fakeclock.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	r := start(t, fmt.Sprintf(`
idle_timeout: 90s
reconnect_min: 1s
reconnect_max: 2s
cameras:
  - id: c
    pull: isapi
    url: %s/ISAPI/Event/notification/alertStream
    user: u
    password: p
    devices: [{id: c-1, events: [{type: linedetection}]}]
`, cam.url), clk)
	r.sink.WaitFor(t, 0, wait, "online", drivertest.IsStatus("c-1", true))
	// The sweeper and the watchdog wait on the clock.
	if !clk.BlockUntil(2, wait) {
		t.Fatal("watchdog not waiting")
	}
	clk.Advance(90 * time.Second)
	i := r.sink.WaitFor(t, 0, wait, "offline", drivertest.IsStatus("c-1", false))
	if !strings.Contains(r.sink.Events()[i].Text, errIdle.Error()) {
		t.Errorf("offline reason %q", r.sink.Events()[i].Text)
	}
	for cam.conns.Load() < 2 {
		clk.BlockUntil(2, wait) // sweeper and backoff
		clk.Advance(time.Second)
	}
	r.sink.WaitFor(t, i, wait, "online again", drivertest.IsStatus("c-1", true))
}

// TestProbe: the probe's listener prints one line per post, and its
// subscription one line per alarm; a wrong password fails at once.
func TestProbe(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Probe(ctx, ProbeOptions{Listen: "127.0.0.1:0", Ready: func(a string) { addrc <- a }}, &out, nil)
	}()
	addr := <-addrc
	if code := post(t, "http://"+addr+"/whatever", "application/xml", readTestdata(t, "isapi_v10_fielddetection.xml")); code != 200 {
		t.Fatalf("post: %d", code)
	}
	if code := post(t, "http://"+addr+"/", "text/plain", []byte("garbage")); code != 200 {
		t.Errorf("garbage post: got %d, want 200 from the probe", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "2024-03-09T21:14:33+08:00 192.168.1.64 ch2 fielddetection active\n"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "127.0.0.1 unreadable post: malformed alarm") {
		t.Errorf("got %q, want a line %q and one for the garbage", out.String(), want)
	}

	cam := &fakeCamera{t: t, user: "admin", pass: "pw", boundary: "myboundary", ctype: "multipart/x-mixed-replace",
		scripts: [][]rawPart{{{"text/plain", []byte("Code=CrossLineDetection;action=Start;index=0")}}}, hold: true}
	cam.start()
	var out2 syncBuffer
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- Probe(ctx, ProbeOptions{URL: cam.url + "/cgi-bin/eventManager.cgi?action=attach&codes=[All]", User: "admin", Password: "pw"}, &out2, nil)
	}()
	waitUntil(t, out2.written(), func() bool { return strings.Contains(out2.String(), "ch1 CrossLineDetection active") },
		func() { t.Fatalf("probe printed %q", out2.String()) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err := Probe(t.Context(), ProbeOptions{URL: cam.url + "/ISAPI/Event/notification/alertStream", User: "admin", Password: "bad"}, &out2, nil)
	if !errors.Is(err, ErrAuth) {
		t.Errorf("wrong password: got %v, want ErrAuth", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	ch chan struct{}
}

// written fires after each Write.
func (s *syncBuffer) written() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{}, 1)
	}
	return s.ch
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		defer notify(s.ch)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
