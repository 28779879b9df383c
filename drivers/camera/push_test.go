package camera

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

const wait = 10 * time.Second

// running is a driver under test, run until the test ends.
type running struct {
	d    *Driver
	sink *drivertest.Collector
	url  string // the push listener's base URL
}

func start(t *testing.T, yaml string, clock edge.Clock) *running {
	t.Helper()
	if clock == nil {
		clock = edge.SystemClock{}
	}
	drv, err := New(edge.Env{Name: "cams", Clock: clock}, drivertest.Options(yaml))
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	sink := drivertest.NewCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not end")
		}
	})
	r := &running{d: d, sink: sink}
	if d.opts.Listen != "" {
		actx, acancel := context.WithTimeout(ctx, wait)
		defer acancel()
		addr := d.Addr(actx)
		if addr == nil {
			t.Fatal("listener not bound")
		}
		r.url = "http://" + addr.String()
	}
	return r
}

func post(t *testing.T, url, ct string, body []byte, hdr ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func isState(dev, point, text string) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindState && e.Device == dev && e.Point == point && e.Text == text
	}
}

const pushConfig = `
listen: 127.0.0.1:0
hold: 3s
pictures:
  dir: %s
  max_files: 2
cameras:
  - id: roof-b5
    address: 127.0.0.1
    devices:
      - id: cam-b5
        location: sunrise/b5
        tags: [camera, falling-object]
        events:
          - {type: objectsThrownDetection, point: alarm, on: FALL, off: CLEAR}
          - {type: linedetection}
      - id: cam-b5-ch2
        channel: 2
        events:
          - {type: fielddetection}
`

// TestPushVariants: every wire form a Hikvision camera posts becomes the
// same state change, on any path, answered 200.
func TestPushVariants(t *testing.T) {
	dir := t.TempDir()
	r := start(t, fmt.Sprintf(pushConfig, dir), nil)
	xmlNoNS := readTestdata(t, "isapi_nons_thrown.xml")
	xmlV20 := bytes.Replace(readTestdata(t, "isapi_v20_linedetection.xml"), []byte("linedetection"), []byte("objectsThrownDetection"), -1)
	js := readTestdata(t, "isapi_smart.json")
	ctMP, mp := multipartBody(t, "application/xml", xmlNoNS, fakeJPEG(2048))
	inactive := bytes.Replace(xmlNoNS, []byte(">active<"), []byte(">inactive<"), 1)
	for i, tc := range []struct {
		ct   string
		body []byte
	}{
		{"application/xml", xmlNoNS},
		{"application/xml; charset=UTF-8", xmlV20},
		{"application/json", js},
		{ctMP, mp},
	} {
		from := r.sink.Len()
		if code := post(t, r.url+fmt.Sprintf("/any/path/%d", i), tc.ct, tc.body); code != http.StatusOK {
			t.Fatalf("post %d: got %d, want 200", i, code)
		}
		r.sink.WaitFor(t, from, wait, "FALL", isState("cam-b5", "alarm", "FALL"))
		if code := post(t, r.url+"/", "application/xml", inactive); code != http.StatusOK {
			t.Fatalf("post inactive: got %d", code)
		}
		r.sink.WaitFor(t, from, wait, "CLEAR", isState("cam-b5", "alarm", "CLEAR"))
	}
	// The multipart post's picture is in the folder and named by an event.
	evs := r.sink.Events()
	var name string
	for _, e := range evs {
		if e.Point == "alarm_picture" {
			name = e.Text
			if e.Priority != edge.PriorityLow || e.Value != 2048 {
				t.Errorf("picture event %+v", e)
			}
		}
	}
	if name == "" {
		t.Fatalf("no picture event in %+v", evs)
	}
	if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || len(b) != 2048 {
		t.Errorf("picture %s: %d bytes, %v", name, len(b), err)
	}
	// Channel 2 maps to its own device; an unmapped type is counted.
	v10 := readTestdata(t, "isapi_v10_fielddetection.xml")
	from := r.sink.Len()
	post(t, r.url, "application/xml", v10)
	r.sink.WaitFor(t, from, wait, "ch2 field", isState("cam-b5-ch2", "fielddetection", "active"))
	post(t, r.url, "application/xml", bytes.Replace(v10, []byte("fielddetection"), []byte("regionEntrance"), -1))
	if c := r.d.Counters(); c.Unmapped != 1 || c.Pictures != 1 {
		t.Errorf("counters %+v, want 1 unmapped, 1 picture", c)
	}
	// The camera came online once.
	n := 0
	for _, e := range r.sink.Events() {
		if e.Kind == edge.KindStatus && e.Device == "cam-b5" && e.IsOnline() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d online events for cam-b5, want 1", n)
	}
}

// TestPushHostile: what is not a known camera's well-formed alarm gets a
// 4xx and changes nothing.
func TestPushHostile(t *testing.T) {
	r := start(t, `
listen: 127.0.0.1:0
path: /alarm
max_body: 64KiB
max_part: 8KiB
read_timeout: 500ms
cameras:
  - id: cam
    address: 127.0.0.1
    token: s3cret
    devices:
      - id: cam-1
        events: [{type: linedetection}]
`, nil)
	good := readTestdata(t, "isapi_v20_linedetection.xml")
	tok := "/alarm?token=s3cret"
	for _, tc := range []struct {
		name   string
		path   string
		ct     string
		body   []byte
		hdr    []string
		status int
	}{
		{"wrong path", "/other?token=s3cret", "application/xml", good, nil, 404},
		{"no token", "/alarm", "application/xml", good, nil, 403},
		{"wrong token", "/alarm?token=guess", "application/xml", good, nil, 403},
		{"oversize", tok, "application/xml", bytes.Repeat([]byte("<a>"), 30000), nil, 413},
		{"document over max_part", tok, "application/xml", append(good, bytes.Repeat([]byte(" "), 9000)...), nil, 413},
		{"malformed xml", tok, "application/xml", []byte("<EventNotificationAlert><eventType>"), nil, 400},
		{"binary garbage", tok, "application/octet-stream", []byte{0, 1, 2, 0xff}, nil, 400},
		{"multipart without boundary", tok, "multipart/form-data", good, nil, 400},
	} {
		if got := post(t, r.url+tc.path, tc.ct, tc.body, tc.hdr...); got != tc.status {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.status)
		}
	}
	// A chunked body with no Content-Length is cut at its limit: 413, and
	// the server stops reading long before the 32MiB the sender offers.
	req, _ := http.NewRequest(http.MethodPost, r.url+tok, io.LimitReader(zeros{}, 32<<20))
	req.Header.Set("Content-Type", "application/xml")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked oversize: got %d, want 413", resp.StatusCode)
		}
	} // else: the server closed the connection mid-upload, also a refusal
	// GET is refused.
	resp, err := http.Get(r.url + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", resp.StatusCode)
	}
	if n := r.sink.Len(); n != 0 {
		t.Errorf("hostile posts made %d events: %+v", n, r.sink.Events())
	}
	c := r.d.Counters()
	if c.Oversize != 3 || c.Malformed != 3 || c.Refused != 4 {
		t.Errorf("counters %+v, want 3 oversize, 3 malformed, 4 refused", c)
	}

	// A sender that stalls mid-body is cut off by read_timeout, and the
	// listener goes on serving.
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 1000\r\n\r\n<Event", tok)
	conn.SetReadDeadline(time.Now().Add(wait))
	b, _ := io.ReadAll(conn) // the server closes it
	if bytes.Contains(b, []byte("200 OK")) {
		t.Errorf("stalled post answered %q", b)
	}
	if got := post(t, r.url+tok, "application/xml", good); got != 200 {
		t.Errorf("good post after the stalled one: got %d", got)
	}
	r.sink.WaitFor(t, 0, wait, "alarm", isState("cam-1", "linedetection", "active"))
}

// TestPushCredentials: basic and digest posts from a camera that is known
// by its user; an unknown source gets 403.
func TestPushCredentials(t *testing.T) {
	r := start(t, `
listen: 127.0.0.1:0
cameras:
  - id: nat-cam
    user: alarm
    password: pa55
    devices:
      - id: cam-n
        events: [{type: linedetection}]
  - id: far
    address: 192.0.2.7
    devices:
      - id: cam-far
        events: [{type: linedetection}]
`, nil)
	good := readTestdata(t, "isapi_v20_linedetection.xml")
	// No credential: a challenge.
	req, _ := http.NewRequest(http.MethodPost, r.url+"/alarm", bytes.NewReader(good))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ch, ok, basic := pickChallenge(resp.Header.Values("WWW-Authenticate"))
	if resp.StatusCode != 401 || !ok || !basic {
		t.Fatalf("anonymous post: got %d %v", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	// Wrong password, basic: 401.
	req, _ = http.NewRequest(http.MethodPost, r.url+"/alarm", bytes.NewReader(good))
	req.SetBasicAuth("alarm", "nope")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("wrong password: got %d, want 401", resp.StatusCode)
	}
	// Digest with the right password: 200.
	req, _ = http.NewRequest(http.MethodPost, r.url+"/alarm", bytes.NewReader(good))
	req.Header.Set("Authorization", ch.authorization("POST", "/alarm", "alarm", "pa55", 1))
	req.Header.Set("Content-Type", "application/xml")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("digest post: got %d, want 200", resp.StatusCode)
	}
	r.sink.WaitFor(t, 0, wait, "alarm", isState("cam-n", "linedetection", "active"))
	// Digest with the wrong password: 401.
	req, _ = http.NewRequest(http.MethodPost, r.url+"/alarm", bytes.NewReader(good))
	req.Header.Set("Authorization", ch.authorization("POST", "/alarm", "alarm", "wrong", 1))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("digest, wrong password: got %d, want 401", resp.StatusCode)
	}
	// Basic with the right password: 200.
	if got := post(t, r.url+"/x", "application/xml", good, "Authorization", "Basic YWxhcm06cGE1NQ=="); got != 200 {
		t.Errorf("basic post: got %d, want 200", got)
	}
}

// TestDebounce: a camera that resends "active" every second for 10
// seconds makes one FALL; the CLEAR comes hold after the last resend.
func TestDebounce(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	r := start(t, fmt.Sprintf(pushConfig, t.TempDir()), clk)
	body := readTestdata(t, "isapi_nons_thrown.xml")
	if !clk.BlockUntil(1, wait) {
		t.Fatal("sweeper not waiting")
	}
	for i := 0; i < 10; i++ {
		if code := post(t, r.url, "application/xml", body); code != 200 {
			t.Fatalf("post %d: %d", i, code)
		}
		clk.Advance(time.Second)
	}
	// 10 posts, one state change; the last resend was at +9s.
	states := func() (n int) {
		for _, e := range r.sink.Events() {
			if e.Kind == edge.KindState {
				n++
			}
		}
		return n
	}
	if n := states(); n != 1 {
		t.Fatalf("got %d state events, want 1: %+v", n, r.sink.Events())
	}
	// hold is 3s: at +11s (2s after the last resend) still active.
	clk.Advance(time.Second)
	clk.BlockUntil(1, wait)
	if n := states(); n != 1 {
		t.Fatalf("cleared early: %+v", r.sink.Events())
	}
	for i := 0; i < 3; i++ {
		clk.BlockUntil(1, wait)
		clk.Advance(time.Second)
	}
	r.sink.WaitFor(t, 0, wait, "CLEAR", isState("cam-b5", "alarm", "CLEAR"))
	if n := states(); n != 2 {
		t.Errorf("got %d state events, want 2: %+v", n, r.sink.Events())
	}
	if c := r.d.Counters(); c.Repeats != 9 || c.Alarms != 2 {
		t.Errorf("counters %+v, want 9 repeats, 2 alarms", c)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
