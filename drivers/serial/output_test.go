package serial

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/ptytest"
)

func TestOutputRender(t *testing.T) {
	o, err := NewSerialOutput(edge.Env{Name: "voice"}, OutputOptions{Port: Port{Port: "/dev/null"},
		SendHex: "7E 03 {{.track | hex}} {{.vol | hex16}} EF", On: "ON {{.Text}}\r\n", Off: "OFF\r\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op      edge.Op
		want    []byte
		wantErr error
	}{
		{edge.Op{Kind: edge.OpSend, Vars: map[string]string{"track": "10", "vol": "500"}}, []byte{0x7E, 0x03, 0x0A, 0x01, 0xF4, 0xEF}, nil},
		{edge.Op{Kind: edge.OpSet, On: true, Text: "x"}, []byte("ON x\r\n"), nil},
		{edge.Op{Kind: edge.OpSet}, []byte("OFF\r\n"), nil},
		{edge.Op{Kind: edge.OpPulse}, nil, edge.ErrUnsupported},
	}
	for _, tc := range tests {
		got, err := o.Render(tc.op)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%+v: got %v, want %v", tc.op, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%+v: got % x, %v, want % x", tc.op, got, err, tc.want)
		}
	}
	for _, vars := range []map[string]string{{"track": "300", "vol": "1"}, {"track": "x", "vol": "1"}, {"vol": "1"}} {
		if _, err := o.Render(edge.Op{Kind: edge.OpSend, Vars: vars}); err == nil || !strings.Contains(err.Error(), `"voice"`) {
			t.Errorf("vars %v: got %v, want an error naming the output", vars, err)
		}
	}
}

func TestOutputOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		o     OutputOptions
		field string
	}{
		{OutputOptions{Port: Port{Port: "/dev/x"}}, "send"},
		{OutputOptions{Port: Port{Port: "/dev/x"}, Send: "a", SendHex: "01"}, "send"},
		{OutputOptions{Port: Port{Port: "/dev/x"}, Send: "{{.x"}, "send"},
		{OutputOptions{Port: Port{Port: "/dev/x"}, On: "a"}, "on"},
		{OutputOptions{Send: "a"}, "port"},
	} {
		_, err := NewSerialOutput(edge.Env{}, tc.o, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: got %v, want an error naming %s", tc.o, err, tc.field)
		}
	}
}

// TestOutputOverPty plays tracks on a voice module at the far end of a pty,
// through an unplug: the first write after it reopens the port.
func TestOutputOverPty(t *testing.T) {
	p := ptytest.New(t)
	o, err := NewSerialOutput(edge.Env{Name: "voice"}, OutputOptions{Port: Port{Port: p.Path(), Baud: 9600},
		Send: "PLAY {{.track}}\r\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Vars: map[string]string{"track": "3"}}); err != nil {
		t.Fatal(err)
	}
	p.Expect([]byte("PLAY 3\r\n"), 2*time.Second)

	p.Replug() // unplugged and back: the open port is stale
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Vars: map[string]string{"track": "4"}}); err != nil {
		t.Fatalf("after replug: %v", err)
	}
	p.Expect([]byte("PLAY 4\r\n"), 2*time.Second)

	p.Unplug()
	err = o.Apply(ctx, edge.Op{Kind: edge.OpSend, Vars: map[string]string{"track": "5"}})
	if err == nil {
		t.Fatal("unplugged: want an error")
	}
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet, On: true}); !errors.Is(err, edge.ErrUnsupported) {
		t.Fatalf("OpSet without on/off: got %v, want ErrUnsupported", err)
	}
	st := o.Stats()[0]
	if st.Frames != 2 || st.Errors != 1 || st.Reconnects != 1 || st.LastError == "" {
		t.Errorf("stats %+v: want 2 writes, 1 error (unsupported ops are not device errors), 1 reconnect", st)
	}
}

// TestOutputBoundedByCtx: a device that never reads fills the line; Apply
// returns with ctx's error instead of hanging, and so does the next one.
func TestOutputBoundedByCtx(t *testing.T) {
	p := ptytest.New(t)
	o, err := NewSerialOutput(edge.Env{Name: "sign"}, OutputOptions{Port: Port{Port: p.Path()}, Send: "{{.Text}}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: big})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := o.Apply(ctx2, edge.Op{Kind: edge.OpSend, Text: "hi"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Apply while the first write is stuck: got %v, want DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Apply took %v", time.Since(start))
	}
	p.Unplug() // unblocks the stuck write so the test ends clean
	o.Close()
}

// TestOutputRunHoldsPort: Run opens the port when the gateway starts, so
// nothing else can take it before the first command; Close gives it back.
func TestOutputRunHoldsPort(t *testing.T) {
	p := ptytest.New(t)
	o, err := NewSerialOutput(edge.Env{Name: "voice"}, OutputOptions{Port: Port{Port: p.Path()}, Send: "PLAY {{.track}}\r\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var locks serialport.Opener
	eventually(t, 3*time.Second, "the port held", func() bool {
		pid, _, ok := locks.Holder(p.Path())
		return ok && pid == os.Getpid()
	})
	if _, err := serialport.Open(p.Path(), nil); !errors.Is(err, edge.ErrPortInUse) {
		t.Fatalf("a second open: got %v, want ErrPortInUse", err)
	}
	actx, acancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer acancel()
	if err := o.Apply(actx, edge.Op{Kind: edge.OpSend, Vars: map[string]string{"track": "1"}}); err != nil {
		t.Fatal(err)
	}
	p.Expect([]byte("PLAY 1\r\n"), 2*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := locks.Holder(p.Path()); ok {
		t.Error("the lock is still held after Close")
	}
	q, err := serialport.Open(p.Path(), nil)
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	q.Close()
}
