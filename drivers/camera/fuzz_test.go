package camera

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func addTestdata(f *testing.F) {
	ents, _ := os.ReadDir("testdata")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("testdata", e.Name())); err == nil {
			f.Add(b)
		}
	}
}

// FuzzISAPIXML: any bytes parse to an alarm with a type and a sane
// channel, or to ErrMalformed; never a panic.
func FuzzISAPIXML(f *testing.F) {
	addTestdata(f)
	f.Add([]byte(`<a:EventNotificationAlert xmlns:a="x"><a:eventType>t</a:eventType><a:eventState>active</a:eventState></a:EventNotificationAlert>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (Alarm, error){ParseISAPIXML, ParseISAPIJSON} {
			a, err := parse(b)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				continue
			}
			if a.Type == "" || len(a.Type) > 64 || a.Channel < 1 || a.Channel > 4096 {
				t.Fatalf("accepted %+v", a)
			}
		}
	})
}

// FuzzMultipart: a posted multipart body, boundary fixed; bounded parts.
func FuzzMultipart(f *testing.F) {
	ct, body := multipartBody(f, "application/xml", []byte(`<EventNotificationAlert><eventType>x</eventType><eventState>active</eventState></EventNotificationAlert>`), fakeJPEG(64))
	f.Add(ct[len("multipart/form-data; boundary="):], body)
	f.Add("b", []byte("--b\r\nContent-Type: application/json\r\n\r\n{\"eventType\":\"x\",\"eventState\":\"inactive\"}\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, b []byte) {
		a, err := ParseBody(`multipart/form-data; boundary="`+boundary+`"`, bytes.NewReader(b), 1024, 2048)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if a.Type == "" || len(a.Picture) > 2048 {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// FuzzDahua: a part of the attach stream.
func FuzzDahua(f *testing.F) {
	for _, s := range []string{"Code=CrossLineDetection;action=Start;index=0", "Heartbeat",
		"Code=A;action=Stop;index=2;data={\"x\":\"a;b\"}\r\nCode=B;action=Pulse;index=0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseDahua(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(as) == 0 || len(as) > 64 {
			t.Fatalf("got %d alarms", len(as))
		}
		for _, a := range as {
			if a.Type == "" || a.Channel < 1 {
				t.Fatalf("accepted %+v", a)
			}
		}
	})
}

// FuzzStream: the pull stream reader never returns a part over its limit
// and always ends.
func FuzzStream(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Length: 3\r\n\r\nabc\r\n--b\r\n\r\nxyz\r\n--b--\r\n"))
	f.Add([]byte("junk\n--b\nContent-Length: 99999\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := NewStreamReader(bytes.NewReader(b), "b", 64)
		for i := 0; i <= len(b)+1; i++ {
			p, err := sr.Next()
			if err != nil {
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
					continue
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("error %v", err)
				}
				return
			}
			if len(p.Body) > 64 {
				t.Fatalf("part of %d bytes", len(p.Body))
			}
		}
		t.Fatalf("the reader did not end on %d bytes", len(b))
	})
}

// FuzzAuthParams: challenge and Authorization headers from the network.
func FuzzAuthParams(f *testing.F) {
	f.Add(`Digest realm="a", nonce="b,c", qop="auth", algorithm=SHA-256`)
	f.Add(`Digest username="x\"y", uri="/a?b=c"`)
	f.Fuzz(func(t *testing.T, h string) {
		_, p := authParams(h)
		if len(p) > 32 {
			t.Fatalf("%d params", len(p))
		}
		pickChallenge([]string{h})
	})
}
