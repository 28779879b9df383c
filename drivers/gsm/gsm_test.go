package gsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/edge"
)

func intp(i int) *int { return &i }

func startSMS(t *testing.T, path string, mod func(*Options), logs ...*logBuf) *Output {
	t.Helper()
	o := Options{Port: serial.Port{Port: path}, To: []string{"+8613800000001"},
		CommandTimeout: edge.Duration(300 * time.Millisecond), SendTimeout: edge.Duration(500 * time.Millisecond),
		Retries: intp(0), RetryWait: edge.Duration(10 * time.Millisecond)}
	if mod != nil {
		mod(&o)
	}
	env := edge.Env{Name: "sms"}
	if len(logs) > 0 && logs[0] != nil {
		env.Logger = slog.New(slog.NewTextHandler(logs[0], nil))
	}
	out, err := New(env, o, nil)
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

// TestSMSBusyQueue: while the modem works on one SMS, the next recipient
// waits in the queue and the one after is refused at once.
func TestSMSBusyQueue(t *testing.T) {
	release := make(chan struct{})
	f := newFakeModem(t, func(_ int, to, _ string) (string, time.Duration) {
		if to == "+861001" {
			<-release // A stays with the modem until the queue is seen full
		}
		return ok("")
	})
	logs := newLogBuf()
	out := startSMS(t, f.p.Path(), func(o *Options) { o.Queue = 1 }, logs)
	errA := make(chan error, 1)
	go func() { errA <- send(out, 5*time.Second, "A", "+861001") }()
	<-f.cmgs // A is with the modem
	errBC := make(chan error, 1)
	go func() { errBC <- send(out, 5*time.Second, "BC", "+861002", "+861003") }()
	logs.waitFor(t, "sms dropped", 5*time.Second) // B queued, C refused
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("A: %v", err)
	}
	err := <-errBC
	var se *SendError
	if !errors.As(err, &se) || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("B, C: got %v, want a SendError with C's queue full", err)
	}
	if fmt.Sprint(se.Sent) != "[+861002]" || len(se.Failed) != 1 || se.Failed[0].To != "+861003" || len(se.Pending) != 0 {
		t.Errorf("got %+v, want B sent and C failed", se)
	}
	if m := f.messages(); len(m) != 2 || m[0].text != "A" || m[1].text != "BC" || m[1].to != "+861002" {
		t.Fatalf("got %v, want A then BC to B", m)
	}
	if c := out.Counters(); c.Sent != 2 || c.Dropped != 1 {
		t.Errorf("counters %+v, want 2 sent 1 dropped", c)
	}
	if s := out.Stats()[0]; s.Frames != 2 || s.Errors != 1 || !strings.Contains(s.LastError, "queue full") {
		t.Errorf("stats %+v", s)
	}
}

// TestSMSEveryRecipientTried: one recipient's modem answers OK, one's a
// permanent +CMS ERROR, one's nothing at all. All three are tried, in
// order, whatever became of the one before; the result and the log say
// exactly which were sent and which failed, and why.
func TestSMSEveryRecipientTried(t *testing.T) {
	const silent, refused, good = "+8613800000001", "+8613800000002", "+8613800000003"
	f := newFakeModem(t, func(_ int, to, _ string) (string, time.Duration) {
		switch to {
		case silent:
			return "", 0
		case refused:
			return "\r\n+CMS ERROR: 330\r\n", 0
		}
		return ok("")
	})
	logs := newLogBuf()
	out := startSMS(t, f.p.Path(), func(o *Options) {
		o.To = []string{silent, refused, good}
		o.Retries = intp(1)
		o.RecipientTimeout = edge.Duration(10 * time.Second)
	}, logs)
	err := send(out, 20*time.Second, "door open")
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SendError", err)
	}
	if fmt.Sprint(se.Sent) != "["+good+"]" || len(se.Pending) != 0 || se.Wait != nil || len(se.Failed) != 2 {
		t.Fatalf("got %+v, want %s sent and two failed", se, good)
	}
	if f0 := se.Failed[0]; f0.To != silent || !errors.Is(f0.Err, ErrNoAnswer) {
		t.Errorf("first failure %+v, want %s with no answer", f0, silent)
	}
	var me *ModemError
	if f1 := se.Failed[1]; f1.To != refused || !errors.As(f1.Err, &me) || me.Code != 330 {
		t.Errorf("second failure %+v, want %s with +CMS ERROR 330", f1, refused)
	}
	for _, want := range []string{"sent to 1 of 3 (" + good + ")", silent + ": ", refused + ": +CMS ERROR: 330 (SMSC address unknown)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("result %q lacks %q", err, want)
		}
	}
	var to []string
	for _, m := range f.messages() {
		to = append(to, m.to)
	}
	if got, want := strings.Join(to, " "), strings.Join([]string{silent, silent, refused, good}, " "); got != want {
		t.Errorf("modem got SMS for %s, want %s (no answer retried once, 330 not retried)", got, want)
	}
	if c := out.Counters(); c.Sent != 1 || c.Failed != 2 {
		t.Errorf("counters %+v, want 1 sent 2 failed", c)
	}
	logs.waitFor(t, "sms batch done", 5*time.Second)
	line := logs.line("sms batch done")
	if !strings.Contains(line, "sent=["+good+"]") || !strings.Contains(line, silent+": ") || !strings.Contains(line, refused+": +CMS ERROR: 330") {
		t.Errorf("summary %q does not say who got it and who did not", line)
	}
}

// TestSMSRecipientTimeout: a modem that keeps silent costs each recipient
// its own recipient_timeout, not the next one's.
func TestSMSRecipientTimeout(t *testing.T) {
	f := newFakeModem(t, func(int, string, string) (string, time.Duration) { return "", 0 })
	out := startSMS(t, f.p.Path(), func(o *Options) {
		o.SendTimeout = edge.Duration(time.Minute)
		o.RecipientTimeout = edge.Duration(300 * time.Millisecond)
		o.Retries = intp(3)
	})
	err := send(out, 20*time.Second, "x", "+861001", "+861002")
	var se *SendError
	if !errors.As(err, &se) || len(se.Failed) != 2 || !errors.Is(se.Failed[0].Err, ErrRecipientTimeout) || !errors.Is(se.Failed[1].Err, ErrRecipientTimeout) {
		t.Fatalf("got %v, want both recipients timed out", err)
	}
	if m := f.messages(); len(m) != 2 || m[0].to != "+861001" || m[1].to != "+861002" {
		t.Fatalf("got %v, want one try each", m)
	}
}

// TestSMSCallerStopsWaiting: the caller's ctx (the action's timeout) ends
// while recipients are still being tried: the result says which are not
// confirmed yet, and they are tried to the end anyway, the log saying what
// became of them.
func TestSMSCallerStopsWaiting(t *testing.T) {
	f := newFakeModem(t, func(_ int, to, _ string) (string, time.Duration) {
		if to == "+861001" {
			return "", 0
		}
		return ok("")
	})
	logs := newLogBuf()
	out := startSMS(t, f.p.Path(), func(o *Options) {
		o.SendTimeout = edge.Duration(time.Minute)
		o.RecipientTimeout = edge.Duration(time.Second)
	}, logs)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- out.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "x", To: []string{"+861001", "+861002"}})
	}()
	<-f.cmgs // the first is with the modem
	cancel()
	err := <-errc
	var se *SendError
	if !errors.As(err, &se) || !errors.Is(err, context.Canceled) || len(se.Pending) != 2 || !strings.Contains(err.Error(), "not confirmed yet") {
		t.Fatalf("got %v, want both pending and the caller's reason", err)
	}
	logs.waitFor(t, "sms batch done", 10*time.Second)
	line := logs.line("sms batch done")
	if !strings.Contains(line, "sent=[+861002]") || !strings.Contains(line, "+861001: "+ErrRecipientTimeout.Error()) {
		t.Errorf("summary %q: want +861002 sent and +861001 timed out", line)
	}
	if m := f.messages(); len(m) != 2 {
		t.Errorf("modem got %v, want both tried", m)
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
		{Options{Port: serial.Port{Port: "/dev/x"}, RecipientTimeout: -1}, "recipient_timeout"},
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
