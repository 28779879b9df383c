package rf433

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// TestMain keeps the tests' port lock files out of /run/lock.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rf433-locks-")
	if err != nil {
		panic(err)
	}
	os.Setenv(serialport.LockDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func isState(dev, point, text string) func(edge.Event) bool {
	return func(e edge.Event) bool {
		return e.Kind == edge.KindState && e.Device == dev && e.Point == point && e.Text == text
	}
}

// start runs a driver from YAML options on clk until the test ends.
func start(t *testing.T, yml string, clk edge.Clock) (*Driver, *drivertest.Collector) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	drv, err := New(edge.Env{Name: "rf", Clock: clk, Logger: log}, drivertest.Options(yml))
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	col := drivertest.NewCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, col) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop")
		}
	})
	return d, col
}

// advanceUntil moves the clock a minute at a time, each time something
// waits on it, until done holds.
func advanceUntil(t *testing.T, clk *fakeclock.Clock, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached while moving the clock")
		}
		if clk.Waiters() > 0 {
			clk.Advance(time.Minute)
			continue
		}
		select {
		case <-clk.Changed():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitTaken waits until the driver decoded n frames (repeats included).
func waitTaken(t *testing.T, d *Driver, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.rx.mu.Lock()
		got := d.rx.taken
		d.rx.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d frames, want %d", got, n)
		}
		<-time.After(time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func count(evs []edge.Event, pred func(edge.Event) bool) int {
	n := 0
	for _, e := range evs {
		if pred(e) {
			n++
		}
	}
	return n
}

// TestDecoderBoardOnPty plays a decoder board on a pty: each trigger is
// the same frame five times, split across writes, with line noise and a
// cut frame between triggers. Repeats collapse (the window runs on the
// fake clock), a code of no device is counted, supervision takes a silent
// contact offline and its next signal brings it back.
func TestDecoderBoardOnPty(t *testing.T) {
	pty := ptytest.New(t)
	clk := fakeclock.New(t0)
	d, col := start(t, `
port: `+pty.Path()+`
supervision: 2h
devices:
  - id: door-1201
    location: sunrise/b3/u1/1201
    tags: [observe]
    address: 5A3C1
    keys: {"E": open, "7": close, "B": tamper, "F": low_battery}
  - id: door-1202
    codes: {"A1B2C3": open, "A1B2C9": close}
`, clk)
	col.WaitFor(t, 0, 5*time.Second, "door-1201 online", drivertest.IsStatus("door-1201", true))
	// A trigger: the board sends the frame five times, then the line is
	// quiet until the next one (the test waits for the five frames).
	var sent uint64
	trigger := func(code uint32, junk []byte) {
		f := ev(code, 0x2C)
		var b []byte
		b = append(b, junk...)
		b = append(b, f[:3]...) // a frame cut short by interference
		for i := 0; i < 5; i++ {
			b = append(b, f...)
		}
		// Split at places that cut frames.
		for len(b) > 0 {
			n := min(len(b), 7)
			if _, err := pty.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		sent += 5
		waitTaken(t, d, sent)
	}
	trigger(0x5A3C1E, []byte{0x00, 0xFF, 0x13})
	n := col.WaitFor(t, 0, 5*time.Second, "door open", isState("door-1201", "door", "open")) + 1
	trigger(0x5A3C17, nil)
	n = col.WaitFor(t, n, 5*time.Second, "door closed", isState("door-1201", "door", "closed")) + 1
	trigger(0xA1B2C3, []byte{0xDF, 0xDF})
	n = col.WaitFor(t, n, 5*time.Second, "1202 open", isState("door-1202", "door", "open")) + 1
	trigger(0x123456, nil) // nobody's
	trigger(0x5A3C1B, nil)
	n = col.WaitFor(t, n, 5*time.Second, "tamper", isState("door-1201", "tamper", "tamper")) + 1
	trigger(0x5A3C1F, nil)
	n = col.WaitFor(t, n, 5*time.Second, "low battery", isState("door-1201", "battery", "low")) + 1
	// The same code again, still within the repeat window of the fake
	// clock: the same trigger.
	trigger(0x5A3C1F, nil)
	trigger(0x5A3C1E, nil) // the fake clock has not moved since the first open: a repeat
	clk.Advance(1500 * time.Millisecond)
	trigger(0x5A3C1E, nil)
	n = col.WaitFor(t, n, 5*time.Second, "second open", isState("door-1201", "door", "open")) + 1
	evs := col.Events()
	if c := count(evs, isState("door-1201", "door", "open")); c != 2 {
		t.Fatalf("got %d open events, want 2 (repeats collapsed): %+v", c, evs)
	}
	if c := count(evs, isState("door-1201", "battery", "low")); c != 1 {
		t.Fatalf("got %d low battery events, want 1", c)
	}
	st := d.Stats()
	if st[0].Frames != 5 || st[0].Garbage == 0 {
		t.Fatalf("stats %+v: want 5 triggers and garbage counted", st[0])
	}

	// Supervision: door-1202 has not been heard since 10:00; door-1201
	// keeps sending.
	if !clk.BlockUntil(1, 5*time.Second) {
		t.Fatal("supervision is not waiting on the clock")
	}
	for i := 0; i < 12; i++ {
		clk.Advance(10 * time.Minute)
		if i == 6 {
			trigger(0x5A3C17, nil)
			n = col.WaitFor(t, n, 5*time.Second, "closed", isState("door-1201", "door", "closed")) + 1
		}
		clk.BlockUntil(1, 5*time.Second)
	}
	n = col.WaitFor(t, n, 5*time.Second, "door-1202 offline", drivertest.IsStatus("door-1202", false)) + 1
	for _, e := range col.Events() {
		if e.Kind == edge.KindStatus && e.Device == "door-1201" && !e.IsOnline() {
			t.Fatalf("door-1201 went offline while sending: %+v", e)
		}
	}
	trigger(0xA1B2C9, nil)
	col.WaitFor(t, n, 5*time.Second, "door-1202 back", drivertest.IsStatus("door-1202", true))
	col.WaitFor(t, n, 5*time.Second, "door-1202 closed", isState("door-1202", "door", "closed"))
}

// TestDecoderBoardUnplugged: a vanished adapter takes every contact
// offline; it is reopened (backoff on the fake clock) and they come back.
func TestDecoderBoardUnplugged(t *testing.T) {
	pty := ptytest.New(t)
	clk := fakeclock.New(t0)
	_, col := start(t, "port: "+pty.Path()+"\ndevices: [{id: d1, codes: {\"010203\": open}}]\n", clk)
	n := col.WaitFor(t, 0, 5*time.Second, "online", drivertest.IsStatus("d1", true)) + 1
	pty.Unplug()
	n = col.WaitFor(t, n, 5*time.Second, "offline", drivertest.IsStatus("d1", false)) + 1
	pty.Replug()
	advanceUntil(t, clk, func() bool { return col.Len() > n })
	col.WaitFor(t, n, 5*time.Second, "online again", drivertest.IsStatus("d1", true))
	if _, err := pty.Write(cat(ev(0x010203, 0), ev(0x010203, 0))); err != nil {
		t.Fatal(err)
	}
	col.WaitFor(t, n, 5*time.Second, "open", isState("d1", "door", "open"))
}

// fakeRTL433 writes a shell script that prints real rtl_433 JSON lines (the
// file given) and exits, as rtl_433 does when the dongle is pulled.
func fakeRTL433(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake rtl_433 is a shell script")
	}
	lines, err := filepath.Abs("testdata/rtl433.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rtl_433")
	script := "#!/bin/sh\n" +
		"echo 'rtl_433 version 23.11 branch  at 202311281352 inputs file rtl_tcp RTL-SDR' >&2\n" +
		"cat '" + lines + "'\n" +
		"echo 'usb_claim_interface error -6' >&2\n" +
		"exit 2\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRTL433ChildProcess runs a fake rtl_433 that prints real lines and
// exits: the states are mapped, repeats collapsed, garbage counted, and
// the process restarted with backoff (each run's lines are a new trigger
// once the window has passed).
func TestRTL433ChildProcess(t *testing.T) {
	bin := fakeRTL433(t)
	clk := fakeclock.New(t0)
	d, col := start(t, `
format: rtl433
rtl433: {command: [`+bin+`, -F, json]}
devices:
  - id: door-kerui
    address: "Kerui-Security:365845"
  - id: door-honeywell
    address: "Honeywell-Security:690172:8"
`, clk)
	n := col.WaitFor(t, 0, 5*time.Second, "kerui open", isState("door-kerui", "door", "open")) + 1
	col.WaitFor(t, 0, 5*time.Second, "honeywell open", isState("door-honeywell", "door", "open"))
	col.WaitFor(t, 0, 5*time.Second, "tamper", isState("door-kerui", "tamper", "tamper"))
	n = col.WaitFor(t, n, 5*time.Second, "offline: rtl_433 exited", func(e edge.Event) bool {
		return e.Kind == edge.KindStatus && e.Device == "door-kerui" && !e.IsOnline() && e.Text != ""
	})
	if got := col.Events()[n].Text; !strings.Contains(got, "usb_claim_interface") {
		t.Fatalf("offline reason %q does not carry rtl_433's last message", got)
	}
	if c := count(col.Events(), isState("door-kerui", "door", "open")); c != 1 {
		t.Fatalf("got %d open events from 3 repeated lines, want 1", c)
	}
	st := d.Stats()
	if st[0].Garbage < 2 || st[0].Errors < 1 { // the non-JSON line and the Generic-Remote of no device
		t.Fatalf("stats %+v", st[0])
	}
	// Restarted after the backoff.
	advanceUntil(t, clk, func() bool { return count(col.Events(), isState("door-kerui", "door", "open")) >= 2 })
}

// TestRTL433Pipe reads rtl_433's lines from a file another process appends
// to (a named pipe reads the same way).
func TestRTL433Pipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rtl433.json")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, col := start(t, "format: rtl433\nrtl433: {file: "+p+"}\ndevices: [{id: k, address: \"Kerui-Security:365845\", keys: {\"E\": open, \"7\": close}}]\n", edge.SystemClock{})
	col.WaitFor(t, 0, 5*time.Second, "online", drivertest.IsStatus("k", true))
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	mu.Lock()
	// Written in two parts: a line cut across reads.
	f.WriteString(`{"time" : "2026-03-01 10:00:00", "model" : "Kerui-Security", "id" : 365845, "cmd" : 7, `)
	f.WriteString(`"state" : "close"}` + "\n")
	mu.Unlock()
	col.WaitFor(t, 0, 5*time.Second, "closed", isState("k", "door", "closed"))
}
