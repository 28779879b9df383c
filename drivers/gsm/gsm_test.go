package gsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/edge"
)

func intp(i int) *int { return &i }

func startSMS(t *testing.T, path string, mod func(*Options)) *Output {
	t.Helper()
	o := Options{Port: serial.Port{Port: path}, To: []string{"+8613800000001"},
		CommandTimeout: edge.Duration(300 * time.Millisecond), SendTimeout: edge.Duration(500 * time.Millisecond),
		Retries: intp(0), RetryWait: edge.Duration(10 * time.Millisecond)}
	if mod != nil {
		mod(&o)
	}
	out, err := New(edge.Env{Name: "sms"}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := out.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func send(out *Output, d time.Duration, text string, to ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return out.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: text, To: to})
}

func TestSMSSentToSeveral(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) { return ok("") })
	out := startSMS(t, f.p.Path(), func(o *Options) { o.Template = "[{{.device}}] {{.Text}}" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := out.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "door open", To: []string{"+8613800000001", "13800000002"},
		Vars: map[string]string{"device": "door-3-1-101"}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.messages()
	want := []sms{{"+8613800000001", "[door-3-1-101] door open"}, {"13800000002", "[door-3-1-101] door open"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	cmds := strings.Join(f.commands(), "|")
	if !strings.HasPrefix(cmds, "AT|ATE0|AT+CMGF=1|") {
		t.Errorf("init: got %s, want AT, ATE0, AT+CMGF=1 first", cmds)
	}
	if c := out.Counters(); c.Sent != 2 || c.Failed != 0 {
		t.Errorf("counters %+v, want 2 sent", c)
	}
	// Default recipients.
	if err := send(out, 5*time.Second, "again"); err != nil {
		t.Fatal(err)
	}
	if m := f.messages(); len(m) != 3 || m[2].to != "+8613800000001" {
		t.Fatalf("default recipient: got %v", m)
	}
	// The modem was initialised once.
	if n := strings.Count(strings.Join(f.commands(), "|"), "ATE0"); n != 1 {
		t.Errorf("ATE0 sent %d times, want once", n)
	}
}

func TestSMSUCS2(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) { return ok("") })
	out := startSMS(t, f.p.Path(), nil)
	msg := "3号楼1单元101 门磁报警"
	if err := send(out, 5*time.Second, msg); err != nil {
		t.Fatal(err)
	}
	if m := f.messages(); len(m) != 1 || m[0].text != msg || m[0].to != "+8613800000001" {
		t.Fatalf("got %+v, want %q", m, msg)
	}
	if !strings.Contains(strings.Join(f.commands(), "|"), "AT+CSMP=17,167,0,8") {
		t.Errorf("UCS2 needs data coding scheme 8: commands %v", f.commands())
	}
}

func TestSMSModemError(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) { return "\r\nERROR\r\n", 0 })
	out := startSMS(t, f.p.Path(), func(o *Options) { o.Retries = intp(2) })
	err := send(out, 5*time.Second, "x")
	var me *ModemError
	if !errors.As(err, &me) || me.Kind != "ERROR" || !strings.Contains(err.Error(), "+8613800000001") {
		t.Fatalf("got %v, want ERROR naming the recipient", err)
	}
	if n := len(f.messages()); n != 1 {
		t.Errorf("a plain ERROR is not transient: sent %d times, want 1", n)
	}
	if c := out.Counters(); c.Failed != 1 || c.Sent != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestSMSCMSError(t *testing.T) {
	f := newFakeModem(t, func(n int, _, _ string) (string, time.Duration) {
		switch n {
		case 0:
			return "\r\n+CMS ERROR: 330\r\n", 0 // permanent
		case 1:
			return "\r\n+CMS ERROR: 331\r\n", 0 // no network: transient
		}
		return ok("")
	})
	out := startSMS(t, f.p.Path(), func(o *Options) { o.Retries = intp(1) })
	err := send(out, 5*time.Second, "first")
	var me *ModemError
	if !errors.As(err, &me) || me.Code != 330 || !strings.Contains(err.Error(), "+CMS ERROR: 330 (SMSC address unknown)") {
		t.Fatalf("got %v, want +CMS ERROR 330 by name", err)
	}
	if err := send(out, 5*time.Second, "second"); err != nil {
		t.Fatalf("transient 331 then OK: got %v, want sent after a retry; modem saw %v", err, f.messages())
	}
	if m := f.messages(); len(m) != 3 || m[1].text != "second" || m[2].text != "second" {
		t.Fatalf("got %v, want first once and second twice", m)
	}
}

func TestSMSNoAnswer(t *testing.T) {
	f := newFakeModem(t, func(n int, _, _ string) (string, time.Duration) {
		if n == 0 {
			return "", 0 // the modem swallows the message and says nothing
		}
		return ok("")
	})
	out := startSMS(t, f.p.Path(), nil)
	err := send(out, 5*time.Second, "lost")
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("got %v, want ErrNoAnswer", err)
	}
	if err := send(out, 5*time.Second, "next"); err != nil {
		t.Fatalf("after no answer the modem is reset and works: %v", err)
	}
	if n := strings.Count(strings.Join(f.commands(), "|"), "AT+CMGF=1"); n != 2 {
		t.Errorf("text mode set %d times, want 2 (re-init after no answer)", n)
	}
}

// TestSMSBusyQueue: while the modem works on one SMS, the next waits in the
// queue and the one after is refused at once.
func TestSMSBusyQueue(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) {
		return "\r\n+CMGS: 1\r\n\r\nOK\r\n", 300 * time.Millisecond
	})
	out := startSMS(t, f.p.Path(), func(o *Options) { o.Queue = 1 })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = send(out, 5*time.Second, "A", "+861001") }()
	<-f.cmgs // A is with the modem
	wg.Add(1)
	go func() { defer wg.Done(); errs[1] = send(out, 5*time.Second, "B", "+861002") }()
	deadline := time.Now().Add(2 * time.Second)
	for len(out.jobs) == 0 { // B queued
		if time.Now().After(deadline) {
			t.Fatal("B was never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if err := send(out, 5*time.Second, "C", "+861003"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("C: got %v, want ErrQueueFull", err)
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("A, B: %v, %v", errs[0], errs[1])
	}
	if m := f.messages(); len(m) != 2 || m[0].text != "A" || m[1].text != "B" {
		t.Fatalf("got %v, want A then B", m)
	}
	if c := out.Counters(); c.Sent != 2 || c.Dropped != 1 {
		t.Errorf("counters %+v, want 2 sent 1 dropped", c)
	}
	if s := out.Stats()[0]; s.Frames != 2 || s.Errors != 1 || !strings.Contains(s.LastError, "queue full") {
		t.Errorf("stats %+v", s)
	}
}

func TestSMSBoundedByCtx(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) { return "", 0 })
	out := startSMS(t, f.p.Path(), func(o *Options) { o.SendTimeout = edge.Duration(time.Minute) })
	err := send(out, time.Second, "slow")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	// The modem is free again for the next SMS (which gets no answer either,
	// but fails by its own bound, not by the first one's).
	if err := send(out, time.Second, "next"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if n := len(f.messages()); n != 2 {
		t.Fatalf("modem got %d messages, want 2", n)
	}
}

func TestSMSNoModem(t *testing.T) {
	out := startSMS(t, t.TempDir()+"/ttyUSB9", nil)
	err := send(out, 5*time.Second, "x")
	if err == nil || !strings.Contains(err.Error(), "open") {
		t.Fatalf("got %v, want an open error", err)
	}
	if c := out.Counters(); c.Failed != 1 {
		t.Errorf("counters %+v, want 1 failed", c)
	}
}

func TestSMSClosedAfterRun(t *testing.T) {
	o, err := New(edge.Env{Name: "sms"}, Options{Port: serial.Port{Port: "/dev/null"}, To: []string{"+86100"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := send(o, time.Second, "x"); !errors.Is(err, edge.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestSMSOpsAndOptions(t *testing.T) {
	o, err := New(edge.Env{Name: "sms"}, Options{Port: serial.Port{Port: "/dev/null"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Apply(context.Background(), edge.Op{Kind: edge.OpSet, On: true}); !errors.Is(err, edge.ErrUnsupported) {
		t.Errorf("OpSet: got %v, want ErrUnsupported", err)
	}
	if err := o.Apply(context.Background(), edge.Op{Kind: edge.OpSend, Text: "x"}); err == nil || !strings.Contains(err.Error(), "no recipients") {
		t.Errorf("no recipients: got %v", err)
	}
	if err := o.Apply(context.Background(), edge.Op{Kind: edge.OpSend, Text: "x", To: []string{"12ab"}}); err == nil {
		t.Error("bad number: want an error")
	}
	for _, tc := range []struct {
		o     Options
		field string
	}{
		{Options{}, "port"},
		{Options{Port: serial.Port{Port: "/dev/x"}, To: []string{"abc"}}, "to[0]"},
		{Options{Port: serial.Port{Port: "/dev/x"}, Template: "{{"}, "template"},
		{Options{Port: serial.Port{Port: "/dev/x"}, Queue: -1}, "queue"},
		{Options{Port: serial.Port{Port: "/dev/x"}, Retries: intp(99)}, "retries"},
	} {
		if _, err := New(edge.Env{}, tc.o, nil); err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%+v: got %v, want an error naming %s", tc.o, err, tc.field)
		}
	}
}

func TestSplit(t *testing.T) {
	long := strings.Repeat("a", 170)
	if p := split(long); len(p) != 2 || len(p[0]) != 160 || len(p[1]) != 10 {
		t.Errorf("ascii: got %d parts", len(p))
	}
	cn := strings.Repeat("门", 75)
	if p := split(cn); len(p) != 2 || len([]rune(p[0])) != 70 {
		t.Errorf("ucs2: got %d parts", len(p))
	}
	if !needsUCS2("a\x1ab") {
		t.Error("a Ctrl-Z in the text must not end the message: want UCS2")
	}
}

func TestParseFinal(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string
		ok   bool
	}{
		{"OK", "", true},
		{"ERROR", "ERROR", true},
		{"+CMS ERROR: 500", "+CMS ERROR: 500 (unknown error)", true},
		{"+CME ERROR: SIM not inserted", "+CME ERROR: SIM not inserted", true},
		{"+CMS ERROR: 999", "+CMS ERROR: 999", true},
		{"+CMTI: \"SM\",3", "", false},
	} {
		err, ok := parseFinal(tc.line)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %q %v, want %q %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzModemLines(f *testing.F) {
	f.Add([]byte("\r\n+CMGS: 12\r\n\r\nOK\r\n"))
	f.Add([]byte("AT\r\r\nOK\r\n> \r\n+CMS ERROR: 330\r\n"))
	f.Add([]byte("\r\n+CME ERROR: x\r\nRING\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' }) {
			if err, ok := parseFinal(strings.TrimSpace(l)); ok && err != nil {
				_ = err.Error()
			}
		}
	})
}
