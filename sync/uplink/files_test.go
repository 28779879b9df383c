package uplink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// startReceiver runs the reference receiver on 127.0.0.1 with gateway gw1.
func startReceiver(t *testing.T) (*receiver.Server, wire.Key) {
	t.Helper()
	srv, err := receiver.Start(receiver.ServerOptions{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	key, err := srv.AddGateway("gw1")
	if err != nil {
		t.Fatal(err)
	}
	return srv, key
}

func adminGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestPictureFollowsItsEventToTheReceiver(t *testing.T) {
	srv, key := startReceiver(t)
	dir := t.TempDir()
	r := newRigOpts(t, func(c *config.Uplink) { c.URL, c.Key = srv.URL(), key.String() },
		func(o *Options) { o.FilesDirs = []string{t.TempDir(), dir} })

	pic := make([]byte, 300<<10)
	rand.Read(pic)
	name := "cam-1_20261129T060000.000Z_0001.jpg"
	if err := os.WriteFile(filepath.Join(dir, name), pic, 0o640); err != nil {
		t.Fatal(err)
	}
	evs := r.appendReadings(50, "temp-1")
	pe, err := r.st.Append(context.Background(),
		edge.Event{Kind: edge.KindReading, Priority: edge.PriorityLow, Device: "cam-1", Point: "alarm_picture", Value: float64(len(pic)), Text: name},
		edge.Event{Kind: edge.KindReading, Priority: edge.PriorityLow, Device: "cam-1", Point: "alarm_picture", Value: 1, Text: "cam-1_gone_0002.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	eventually(t, "the picture and the skip", func() bool {
		f := r.u.Files()
		return f.Sent == 1 && f.Missing == 1 && f.Pending == 0
	})
	// The events were all stored before the file went (lowest priority).
	gs, err := srv.Store().Gateways()
	if err != nil || len(gs) != 1 || gs[0].Events != uint64(len(evs)+len(pe)) {
		t.Fatalf("got gateways %+v (%v), want %d events", gs, err, len(evs)+len(pe))
	}
	code, got := adminGet(t, srv.URL()+"/v1/admin/files/gw1/"+name)
	if code != 200 || !bytes.Equal(got, pic) {
		t.Fatalf("got %d and %d bytes, want 200 and the %d bytes of the picture", code, len(got), len(pic))
	}
	if code, _ := adminGet(t, srv.URL()+"/v1/admin/files/gw1/cam-1_gone_0002.jpg"); code != 404 {
		t.Errorf("missing file: got %d, want 404", code)
	}
	if f := r.u.Files(); f.Failed != 0 || f.Dropped != 0 {
		t.Errorf("got %+v, want no failure", f)
	}
}

func TestFileEndpointRefusesOversizeAndBadNames(t *testing.T) {
	srv, key := startReceiver(t)
	put := func(path string, body []byte, declared int64) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, srv.URL()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if declared >= 0 {
			req.ContentLength = declared
		}
		wire.SignRequest(req, "gw1", key, body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1 // the server may close on a body it will not read
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := make([]byte, wire.MaxFileBody+1)
	for _, tc := range []struct {
		name     string
		path     string
		body     []byte
		declared int64
		want     int
	}{
		{"fits", wire.FilePath("a.jpg"), []byte("jpeg"), -1, 200},
		{"declared oversize", wire.FilePath("b.jpg"), big, -1, 413},
		{"bad name", wire.FilePath(".hidden"), []byte("x"), -1, 400},
		{"dot dot", wire.PathFiles + "/..", []byte("x"), -1, 0},
	} {
		got := put(tc.path, tc.body, tc.declared)
		if tc.want == 0 {
			if got == 200 {
				t.Errorf("%s: got %d, want a refusal", tc.name, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	// A hostile declared length: refused from the headers, nothing read.
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hreq, _ := http.NewRequest(http.MethodPut, srv.URL()+wire.FilePath("d.jpg"), nil)
	wire.SignRequest(hreq, "gw1", key, nil, time.Now())
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", wire.FilePath("d.jpg"), 64<<20)
	hreq.Header.Write(conn)
	io.WriteString(conn, "\r\n")
	hresp, err := http.ReadResponse(bufio.NewReader(conn), hreq)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != 413 {
		t.Errorf("hostile length: got %d, want 413", hresp.StatusCode)
	}
	// Unsigned: refused before anything is stored.
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+wire.FilePath("c.jpg"), bytes.NewReader([]byte("x")))
	req.Header.Set(wire.HeaderGateway, "gw1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned: got %d, want 401", resp.StatusCode)
	}
	if _, err := srv.Store().File("gw1", "c.jpg"); err == nil {
		t.Error("unsigned file stored")
	}
	if _, err := srv.Store().File("gw1", "b.jpg"); err == nil {
		t.Error("oversize file stored")
	}
	if b, err := srv.Store().File("gw1", "a.jpg"); err != nil || string(b) != "jpeg" {
		t.Errorf("got %q, %v, want jpeg", b, err)
	}
}
