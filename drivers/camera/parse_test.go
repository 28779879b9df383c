package camera

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseISAPI(t *testing.T) {
	for _, tc := range []struct {
		file    string
		src     string
		channel int
		typ     string
		active  bool
		keep    bool
	}{
		{"isapi_v20_linedetection.xml", "10.17.133.46", 1, "linedetection", true, false},
		{"isapi_v10_fielddetection.xml", "192.168.1.64", 2, "fielddetection", true, false},
		{"isapi_nons_thrown.xml", "192.168.1.65", 1, "objectsThrownDetection", true, false},
		{"isapi_prefixed_videoloss.xml", "192.168.1.200", 1, "videoloss", false, true},
		{"isapi_smart.json", "192.168.1.65", 1, "objectsThrownDetection", true, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ct := "application/xml; charset=\"UTF-8\""
			if strings.HasSuffix(tc.file, ".json") {
				ct = "application/json"
			}
			for _, ct := range []string{ct, "text/plain", ""} { // sniffed when the type says nothing
				a, err := ParseBody(ct, bytes.NewReader(readTestdata(t, tc.file)), 64<<10, 1<<20)
				if err != nil {
					t.Fatalf("content type %q: %v", ct, err)
				}
				if a.Source != tc.src || a.Channel != tc.channel || a.Type != tc.typ || a.Active != tc.active || a.KeepAlive() != tc.keep {
					t.Errorf("content type %q: got %+v, want %s ch%d %s active=%v keep=%v", ct, a, tc.src, tc.channel, tc.typ, tc.active, tc.keep)
				}
				if a.Time.IsZero() {
					t.Errorf("got no time")
				}
			}
		})
	}
}

func TestParseISAPIMalformed(t *testing.T) {
	for _, body := range []string{
		"",
		"<EventNotificationAlert>",
		"<Other><eventType>x</eventType><eventState>active</eventState></Other>",
		"<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>",
		"<EventNotificationAlert><eventType>x</eventType><eventState>on</eventState></EventNotificationAlert>",
		"<EventNotificationAlert><eventType>x</eventType><eventState>active</eventState><channelID>-1</channelID></EventNotificationAlert>",
		`{"eventType": "x"}`,
		`{"eventType": 5, "eventState": "active", "channelID": {}}`,
		"hello",
	} {
		if a, err := ParseBody("", strings.NewReader(body), 64<<10, 1<<20); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %+v, %v, want ErrMalformed", body, a, err)
		}
	}
}

// multipartBody builds a Hikvision-shaped multipart/form-data post: the
// alert document, then its picture.
func multipartBody(t testing.TB, docType string, doc, jpeg []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="objectsThrownDetection"`)
	h.Set("Content-Type", docType)
	w, _ := mw.CreatePart(h)
	w.Write(doc)
	if jpeg != nil {
		h = textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="objectsThrownDetectionPicture"; filename="picture.jpg"`)
		h.Set("Content-Type", "image/jpeg")
		w, _ = mw.CreatePart(h)
		w.Write(jpeg)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func fakeJPEG(n int) []byte {
	b := bytes.Repeat([]byte{0x55}, n)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	copy(b[n-2:], []byte{0xFF, 0xD9})
	return b
}

func TestParseMultipart(t *testing.T) {
	pic := fakeJPEG(3000)
	for _, tc := range []struct {
		name, docType, file string
		pic                 []byte
		maxPic              int64
		wantPic             int
	}{
		{"xml+jpeg", "application/xml", "isapi_nons_thrown.xml", pic, 1 << 20, 3000},
		{"json+jpeg", "application/json", "isapi_smart.json", pic, 1 << 20, 3000},
		{"xml alone", "application/xml", "isapi_v20_linedetection.xml", nil, 1 << 20, 0},
		{"picture over its limit is dropped, the alarm kept", "application/xml", "isapi_nons_thrown.xml", pic, 1024, 0},
		{"not a jpeg", "application/xml", "isapi_nons_thrown.xml", []byte("GIF89a........"), 1 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := multipartBody(t, tc.docType, readTestdata(t, tc.file), tc.pic)
			a, err := ParseBody(ct, bytes.NewReader(body), 64<<10, tc.maxPic)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Picture) != tc.wantPic || a.Type == "" || !a.Active {
				t.Errorf("got %s active=%v picture %d bytes, want an active alarm with %d", a.Type, a.Active, len(a.Picture), tc.wantPic)
			}
		})
	}
	// No document part at all.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("pic", "p.jpg")
	w.Write(pic)
	mw.Close()
	if _, err := ParseBody(mw.FormDataContentType(), &b, 64<<10, 1<<20); !errors.Is(err, ErrMalformed) {
		t.Errorf("picture alone: got %v, want ErrMalformed", err)
	}
	// A document part over max_part.
	ct, body := multipartBody(t, "application/xml", bytes.Repeat([]byte("<a>"), 40000), nil)
	if _, err := ParseBody(ct, bytes.NewReader(body), 64<<10, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge document: got %v, want ErrTooLarge", err)
	}
}

func TestParseDahua(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []Alarm
	}{
		{"Code=CrossLineDetection;action=Start;index=0", []Alarm{{Type: "CrossLineDetection", Active: true, Channel: 1}}},
		{"Code=CrossRegionDetection;action=Stop;index=3\r\n", []Alarm{{Type: "CrossRegionDetection", Channel: 4}}},
		{"Code=VideoMotion;action=Pulse;index=1", []Alarm{{Type: "VideoMotion", Active: true, Channel: 2}}},
		{"Heartbeat", []Alarm{{Type: "Heartbeat", Channel: 1}}},
		{"Code=CrossLineDetection;action=Start;index=0;data={\n   \"Class\" : \"Normal\",\n   \"Name\" : \"Rule1; east\"\n}\r\n",
			[]Alarm{{Type: "CrossLineDetection", Active: true, Channel: 1}}},
		{"Code=VideoLoss;action=Start;index=0\r\nCode=VideoLoss;action=Start;index=1\r\n",
			[]Alarm{{Type: "VideoLoss", Active: true, Channel: 1}, {Type: "VideoLoss", Active: true, Channel: 2}}},
	} {
		got, err := ParseDahua([]byte(tc.body))
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.body, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].Type != tc.want[i].Type || got[i].Active != tc.want[i].Active || got[i].Channel != tc.want[i].Channel {
				t.Errorf("%q: got %+v, want %+v", tc.body, got[i], tc.want[i])
			}
		}
	}
	for _, bad := range []string{"", "hello", "Code=X", "Code=X;action=Maybe;index=0", "Code=X;action=Start;index=-2", "Code=;action=Start"} {
		if got, err := ParseDahua([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %+v, %v, want ErrMalformed", bad, got, err)
		}
	}
}

func TestStreamReader(t *testing.T) {
	big := strings.Repeat("x", 300)
	stream := "preamble\r\n" +
		"--boundary\r\nContent-Type: application/xml\r\nContent-Length: 5\r\n\r\n<a/>\n\r\n" +
		"--boundary\r\nContent-Type: text/plain\r\n\r\nCode=A;action=Start;index=0\r\n" +
		"--boundary\r\nContent-Type: text/plain\r\nContent-Length: 300\r\n\r\n" + big + "\r\n" +
		"--boundary\r\nContent-Type: text/plain\r\n\r\n" + big + "\r\n" +
		"--boundary\r\nno colon here\r\n\r\nbody\r\n" +
		"--boundary\r\nContent-Type: text/plain\r\n\r\nlast\r\n" +
		"--boundary--\r\n"
	sr := NewStreamReader(strings.NewReader(stream), "boundary", 100)
	var got []string
	for {
		p, err := sr.Next()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				got = append(got, "too large")
				continue
			}
			if errors.Is(err, ErrMalformed) {
				got = append(got, "malformed")
				continue
			}
			break
		}
		got = append(got, string(p.Body))
	}
	want := []string{"<a/>\n", "Code=A;action=Start;index=0", "too large", "too large", "malformed", "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAuthParams(t *testing.T) {
	scheme, p := authParams(`Digest realm="IP Camera(C1234)", qop="auth,auth-int", nonce="4e5a, 6e", opaque=abc, stale=FALSE`)
	if scheme != "Digest" || p["realm"] != "IP Camera(C1234)" || p["qop"] != "auth,auth-int" || p["nonce"] != "4e5a, 6e" ||
		p["opaque"] != "abc" || p["stale"] != "FALSE" {
		t.Errorf("got %s %v", scheme, p)
	}
}

// TestDigestRFC7616: the response of RFC 7616 section 3.9.1's example.
func TestDigestRFC7616(t *testing.T) {
	nonce := "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
	cnonce := "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	for _, tc := range []struct{ alg, want string }{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		got := digestResponse(tc.alg, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, "00000001", cnonce, "auth")
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.alg, got, tc.want)
		}
	}
}
