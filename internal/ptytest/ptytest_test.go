//go:build unix

package ptytest

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"go.bug.st/serial"
)

func TestPairRoundTripAndUnplug(t *testing.T) {
	p := New(t)
	port, err := serial.Open(p.Path(), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	port.SetReadTimeout(2 * time.Second)
	if _, err := p.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := port.Read(buf)
	if err != nil || string(buf[:n]) != "hi\n" {
		t.Fatalf("got %q, %v, want %q", buf[:n], err, "hi\n")
	}
	port.Write([]byte("AT\r"))
	p.Expect([]byte("AT\r"), 2*time.Second)
	// Read deadlines work on the far end.
	start := time.Now()
	if n, err := p.ReadTimeout(buf, 50*time.Millisecond); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadTimeout on a quiet line: got %d, %v, want os.ErrDeadlineExceeded", n, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("ReadTimeout did not time out")
	}

	p.Unplug()
	n, err = port.Read(buf)
	if err == nil {
		t.Fatalf("read after unplug: got %d bytes and no error, want an error", n)
	}
	if _, err := serial.Open(p.Path(), &serial.Mode{BaudRate: 9600}); err == nil {
		t.Fatal("open while unplugged: want an error")
	}
	p.Replug()
	port2, err := serial.Open(p.Path(), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatalf("open after replug: %v", err)
	}
	defer port2.Close()
	port2.SetReadTimeout(2 * time.Second)
	p.Write([]byte("back"))
	n, _ = port2.Read(buf)
	if !bytes.Equal(buf[:n], []byte("back")) {
		t.Fatalf("got %q, want %q", buf[:n], "back")
	}
}

func TestSocat(t *testing.T) {
	s := NewSocat(t)
	a, err := serial.Open(s.A, &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := serial.Open(s.B, &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetReadTimeout(2 * time.Second)
	a.Write([]byte("ping"))
	buf := make([]byte, 16)
	n, _ := b.Read(buf)
	if string(buf[:n]) != "ping" {
		t.Fatalf("got %q, want ping", buf[:n])
	}
	s.Kill()
	_, err = b.Read(buf)
	var pe *serial.PortError
	if err == nil {
		t.Fatal("read after kill: want an error")
	}
	_ = errors.As(err, &pe)
	s.Start()
	if _, err := serial.Open(s.A, &serial.Mode{BaudRate: 9600}); err != nil {
		t.Fatalf("open after restart: %v", err)
	}
}
