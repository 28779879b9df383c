package serial

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/internal/ptytest"
)

func startDriver(t *testing.T, o Options, sink edge.Sink) (*Driver, func()) {
	t.Helper()
	return startDriverEnv(t, edge.Env{Name: "line"}, o, sink)
}

func startDriverEnv(t *testing.T, env edge.Env, o Options, sink edge.Sink) (*Driver, func()) {
	t.Helper()
	o.ReadTimeout = edge.Duration(20 * time.Millisecond)
	if o.ReconnectMin == 0 {
		o.ReconnectMin = edge.Duration(20 * time.Millisecond)
		o.ReconnectMax = edge.Duration(100 * time.Millisecond)
	}
	d, err := NewDriver(env, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = d.Run(ctx, sink); close(done) }()
	stop := func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run: got %v, want nil after cancel", runErr)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Run did not return within 3s of cancel")
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	return d, stop
}

func statsOf(d *Driver, dev string) edge.DeviceStats {
	for _, s := range d.Stats() {
		if s.Device == dev {
			return s
		}
	}
	return edge.DeviceStats{}
}

// TestDriverCameraOverPty: the falling-object camera's lines arrive split,
// merged and between noise; each alarm becomes a state event for its device,
// noise is counted and the driver resynchronises.
func TestDriverCameraOverPty(t *testing.T) {
	p := ptytest.New(t)
	o := cameraOptions
	o.Port = Port{Port: p.Path(), Baud: 9600}
	o.Framing = Framing{MaxLength: 64}
	sink := newCollector()
	d, stop := startDriver(t, o, sink)
	sink.waitFor(t, 0, "cam3 online", 3*time.Second, isStatus("cam3", true))

	p.Write([]byte("\x00\xff\xfe\r\n"))                                                    // noise line
	p.Write([]byte("ALARM,CA"))                                                            // split frame ...
	waitRead(t, p.Path())                                                                  // ... over two reads
	p.Write([]byte("M3,FALL,2026-11-29T10:00:00\r\nHB,CAM3\r\nCLEAR,CAM4,CLEAR,T=20\r\n")) // merged frames
	p.Write(append(bytes.Repeat([]byte("X"), 200), "\nALARM,CAM4,SMOKE\n"...))             // overlong, then good

	i := sink.waitFor(t, 0, "cam3 FALL", 3*time.Second, func(e edge.Event) bool {
		return e.Kind == edge.KindState && e.Device == "cam3" && e.Text == "FALL" && e.Point == "alarm" && e.Value == 1
	})
	j := sink.waitFor(t, i, "CAM4 temperature", 3*time.Second, func(e edge.Event) bool {
		return e.Kind == edge.KindReading && e.Device == "CAM4" && e.Point == "temperature" && e.Value == 11
	})
	sink.waitFor(t, j, "CAM4 SMOKE after the overlong line", 3*time.Second, func(e edge.Event) bool {
		return e.Kind == edge.KindState && e.Device == "CAM4" && e.Text == "SMOKE"
	})
	stop()
	s3, s4 := statsOf(d, "cam3"), statsOf(d, "CAM4")
	if s3.Frames != 1 || s4.Frames != 2 {
		t.Errorf("frames: cam3 %d, CAM4 %d, want 1 and 2 (a heartbeat names no device)", s3.Frames, s4.Frames)
	}
	if s3.Garbage != 1 || s3.Overlong != 1 || s4.Overlong != 1 {
		t.Errorf("cam3 garbage %d overlong %d, CAM4 overlong %d, want 1, 1, 1", s3.Garbage, s3.Overlong, s4.Overlong)
	}
}

// TestDriverWrongBaudGarbage feeds what a line at the wrong baud rate looks
// like (random bytes, few newlines), then good frames at the right rate.
func TestDriverWrongBaudGarbage(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:    Port{Port: p.Path(), Baud: 115200, Parity: "even", StopBits: 2, DataBits: 8},
		Framing: Framing{Mode: "delimited", MaxLength: 32},
		Devices: []DeviceConf{{ID: "sign-temp"}},
		Decode: Decode{Regexp: &RegexpDecode{Pattern: `^T=(?P<t>-?\d+(\.\d+)?)$`,
			Points: []PointConf{{Group: "t", Point: "temperature", Unit: "C"}}}},
	}
	sink := newCollector()
	d, stop := startDriver(t, o, sink)
	sink.waitFor(t, 0, "online", 3*time.Second, isStatus("sign-temp", true))
	r := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 5000)
	for i := range junk {
		junk[i] = byte(r.IntN(256))
	}
	p.Write(junk)
	p.Write([]byte("\x02T=21.5\x03\x02T=22\x03"))
	i := sink.waitFor(t, 0, "21.5", 3*time.Second, func(e edge.Event) bool { return e.Point == "temperature" && e.Value == 21.5 })
	sink.waitFor(t, i, "22", 3*time.Second, func(e edge.Event) bool { return e.Point == "temperature" && e.Value == 22 })
	stop()
	s := statsOf(d, "sign-temp")
	if s.Garbage == 0 || s.Frames < 2 {
		t.Errorf("got %+v, want garbage counted and 2 good frames", s)
	}
}

// TestDriverUnplugReplug: the far end goes away (an unplugged USB adapter)
// and comes back at the same path.
func TestDriverUnplugReplug(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:    Port{Port: p.Path()},
		Devices: []DeviceConf{{ID: "cam1"}, {ID: "cam2"}},
		Decode: Decode{Regexp: &RegexpDecode{Pattern: `^(?P<id>cam\d) (?P<s>\w+)$`, DeviceGroup: "id",
			Points: []PointConf{{Group: "s", Point: "alarm", Kind: "state"}}}},
	}
	sink := newCollector()
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d, stop := startDriverEnv(t, edge.Env{Name: "line", Clock: clk}, o, sink)
	i := sink.waitFor(t, 0, "cam2 online", 3*time.Second, isStatus("cam2", true))
	p.Write([]byte("cam1 FALL\n"))
	i = sink.waitFor(t, i, "FALL", 3*time.Second, func(e edge.Event) bool { return e.Text == "FALL" })

	p.Unplug()
	for _, dev := range []string{"cam1", "cam2"} {
		k := sink.waitFor(t, i, dev+" offline", 3*time.Second, isStatus(dev, false))
		if ev := sink.events()[k]; !strings.Contains(ev.Text, "lost") {
			t.Errorf("offline reason %q, want it to say the port was lost", ev.Text)
		}
	}
	for range 3 { // a few failed reopen attempts
		if !clk.BlockUntil(1, 3*time.Second) {
			t.Fatal("the driver does not wait to reopen")
		}
		clk.Advance(time.Second) // past the longest backoff (100ms)
	}
	if !clk.BlockUntil(1, 3*time.Second) {
		t.Fatal("the driver does not wait to reopen")
	}
	if s := statsOf(d, "cam1"); s.Errors < 4 {
		t.Errorf("errors %d, want the loss and 3 failed reopens", s.Errors)
	}
	n := len(sink.events())
	p.Replug()
	clk.Advance(time.Second) // past the longest backoff (100ms)
	i = sink.waitFor(t, n, "cam1 online again", 3*time.Second, isStatus("cam1", true))
	p.Write([]byte("cam2 SMOKE\n"))
	sink.waitFor(t, i, "frame after replug", 3*time.Second, func(e edge.Event) bool { return e.Device == "cam2" && e.Text == "SMOKE" })
	stop()

	// Offline once per device, however many reopen attempts failed.
	offline := 0
	for _, e := range sink.events() {
		if e.Kind == edge.KindStatus && !e.IsOnline() {
			offline++
		}
	}
	if offline != 2 {
		t.Errorf("offline events: got %d, want 2", offline)
	}
	if s := statsOf(d, "cam1"); s.Reconnects != 1 || s.Errors == 0 || s.LastError == "" {
		t.Errorf("stats %+v: want 1 reconnect and the port errors counted", s)
	}
}

// TestDriverSocatRestart does the same unplug with socat: SIGKILL it and
// start it again on the same link paths.
func TestDriverSocatRestart(t *testing.T) {
	s := ptytest.NewSocat(t)
	o := Options{
		Port:    Port{Port: s.A},
		Devices: []DeviceConf{{ID: "cam1"}},
		Decode: Decode{Regexp: &RegexpDecode{Pattern: `^ALARM,(?P<s>\w+)`,
			Points: []PointConf{{Group: "s", Point: "alarm", Kind: "state"}}}},
	}
	sink := newCollector()
	_, stop := startDriver(t, o, sink)
	i := sink.waitFor(t, 0, "online", 3*time.Second, isStatus("cam1", true))
	send := func(line string) {
		far, err := openFar(s.B)
		if err != nil {
			t.Fatal(err)
		}
		defer far.Close()
		far.Write([]byte(line))
		far.Drain()
	}
	send("ALARM,FALL\n")
	i = sink.waitFor(t, i, "FALL", 3*time.Second, func(e edge.Event) bool { return e.Text == "FALL" })
	s.Kill()
	i = sink.waitFor(t, i, "offline", 3*time.Second, isStatus("cam1", false))
	s.Start()
	i = sink.waitFor(t, i, "online", 3*time.Second, isStatus("cam1", true))
	send("ALARM,SMOKE\n")
	sink.waitFor(t, i, "SMOKE", 3*time.Second, func(e edge.Event) bool { return e.Text == "SMOKE" })
	stop()
}

// TestDriverOfflineAfterSilence: a heartbeat device that goes quiet is
// reported offline, and online again with its next frame.
func TestDriverOfflineAfterSilence(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:         Port{Port: p.Path()},
		Devices:      []DeviceConf{{ID: "hb"}},
		OfflineAfter: edge.Duration(100 * time.Millisecond),
		Decode:       Decode{Regexp: &RegexpDecode{Pattern: `^(?P<v>\d+)$`, Points: []PointConf{{Group: "v", Point: "n"}}}},
	}
	sink := newCollector()
	_, stop := startDriver(t, o, sink)
	i := sink.waitFor(t, 0, "online", 3*time.Second, isStatus("hb", true))
	i = sink.waitFor(t, i, "offline after silence", 3*time.Second, isStatus("hb", false))
	if ev := sink.events()[i]; !strings.Contains(ev.Text, "no frame") {
		t.Errorf("reason %q, want it to name the silence", ev.Text)
	}
	p.Write([]byte("7\n"))
	sink.waitFor(t, i, "online with a frame", 3*time.Second, isStatus("hb", true))
	stop()
}

// TestDriverEmitErrorsCounted: a sink that refuses events (gateway queue
// full) does not stop the driver.
func TestDriverEmitErrorsCounted(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:    Port{Port: p.Path()},
		Devices: []DeviceConf{{ID: "x"}},
		Decode:  Decode{JSON: &JSONDecode{Points: []PointConf{{Field: "v", Point: "v"}}}},
	}
	sink := newCollector()
	sink.SetFail(errors.New("queue full"))
	d, stop := startDriver(t, o, sink)
	sink.waitFor(t, 0, "online", 3*time.Second, isStatus("x", true))
	p.Write([]byte("{\"v\":1}\n{\"v\":2}\n"))
	sink.waitFor(t, 0, "v=2", 3*time.Second, func(e edge.Event) bool { return e.Point == "v" && e.Value == 2 })
	stop()
	if s := statsOf(d, "x"); s.Errors < 3 || s.Frames != 2 {
		t.Errorf("got %+v, want 2 frames and at least 3 emit errors (status + 2 readings)", s)
	}
}

// TestDriverOpenFailsThenAppears: the adapter is not plugged in at start.
func TestDriverOpenFailsThenAppears(t *testing.T) {
	p := ptytest.New(t)
	p.Unplug()
	o := Options{
		Port:    Port{Port: p.Path()},
		Devices: []DeviceConf{{ID: "late"}},
		Decode:  Decode{Binary: &BinaryDecode{Fields: []FieldConf{{Offset: 1, Type: "u16", Point: "level"}}}},
		Framing: Framing{Mode: "fixed", Length: 3, Sync: Bytes{0xAA}},
	}
	sink := newCollector()
	_, stop := startDriver(t, o, sink)
	i := sink.waitFor(t, 0, "offline at start", 3*time.Second, isStatus("late", false))
	if ev := sink.events()[i]; !strings.Contains(ev.Text, "open") {
		t.Errorf("reason %q, want it to say the open failed", ev.Text)
	}
	p.Replug()
	i = sink.waitFor(t, i, "online", 3*time.Second, isStatus("late", true))
	p.Write([]byte{0x00, 0xAA, 0x01, 0x02, 0xAA, 0x00})
	waitRead(t, p.Path())
	p.Write([]byte{0x05})
	j := sink.waitFor(t, i, "level 258", 3*time.Second, func(e edge.Event) bool { return e.Point == "level" && e.Value == 258 })
	sink.waitFor(t, j, "level 5", 3*time.Second, func(e edge.Event) bool { return e.Point == "level" && e.Value == 5 })
	stop()
}

// TestDriverPanicRecovered: a mapper that panics ends the session only.
func TestDriverPanicRecovered(t *testing.T) {
	p := ptytest.New(t)
	o := Options{
		Port:    Port{Port: p.Path()},
		Devices: []DeviceConf{{ID: "x"}},
		Decode:  Decode{JSON: &JSONDecode{Points: []PointConf{{Field: "v", Point: "v"}}}},
	}
	sink := newCollector()
	o.ReadTimeout = edge.Duration(20 * time.Millisecond)
	o.ReconnectMin, o.ReconnectMax = edge.Duration(10*time.Millisecond), edge.Duration(20*time.Millisecond)
	d, err := NewDriver(edge.Env{Name: "line"}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	real := d.mapper
	d.mapper = panicky{real}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	sink.waitFor(t, 0, "online", 3*time.Second, isStatus("x", true))
	p.Write([]byte("PANIC\n"))
	i := sink.waitFor(t, 0, "offline after panic", 3*time.Second, isStatus("x", false))
	i = sink.waitFor(t, i, "online after panic", 3*time.Second, isStatus("x", true))
	p.Write([]byte("{\"v\":3}\n"))
	sink.waitFor(t, i, "v=3", 3*time.Second, func(e edge.Event) bool { return e.Value == 3 })
}

type panicky struct{ Mapper }

func (p panicky) Map(frame []byte, out []edge.Event) ([]edge.Event, string, error) {
	if string(frame) == "PANIC" {
		panic("decoder bug")
	}
	return p.Mapper.Map(frame, out)
}
