package receiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/sync/wire"
)

// countingBody is a request body that counts the bytes the server reads.
type countingBody struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

// TestRefusedBeforeReadingTheBody: an unknown gateway, a declared length
// over the limit, a bad signature over the declared digest, a stale
// timestamp, a replay are all answered without reading one byte of the body.
func TestRefusedBeforeReadingTheBody(t *testing.T) {
	r := newRig(t, Options{MaxBody: 1 << 20})
	other, _ := wire.NewKey()
	body := bytes.Repeat([]byte("x"), 512<<10)
	used, _ := wire.GzipBatch(readings(1, 1, 10))
	usedReq := httptest.NewRequest("POST", wire.PathBatches, bytes.NewReader(used))
	usedReq.Header.Set("Content-Encoding", "gzip")
	wire.SignRequest(usedReq, "gw1", r.key, used, time.Now())
	rec := httptest.NewRecorder()
	r.rcv.ServeHTTP(rec, usedReq)
	if rec.Code != 200 {
		t.Fatalf("setup batch: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		name string
		mod  func(q *http.Request)
		code string
	}{
		{"unknown gateway", func(q *http.Request) { q.Header.Set(wire.HeaderGateway, "nobody") }, wire.CodeUnknownGW},
		{"declared too long", func(q *http.Request) { q.ContentLength = 2 << 20 }, wire.CodeTooLarge},
		{"bad signature", func(q *http.Request) { wire.SignRequest(q, "gw1", other, body, time.Now()) }, wire.CodeUnauthorized},
		{"stale", func(q *http.Request) { wire.SignRequest(q, "gw1", r.key, body, time.Now().Add(-time.Hour)) }, wire.CodeClockWindow},
		{"replayed", func(q *http.Request) { q.Header = usedReq.Header.Clone() }, wire.CodeReplayed},
	} {
		cb := &countingBody{r: bytes.NewReader(body)}
		q := httptest.NewRequest("POST", wire.PathBatches, cb)
		q.ContentLength = int64(len(body))
		q.Header.Set("Content-Encoding", "gzip")
		wire.SignRequest(q, "gw1", r.key, body, time.Now())
		c.mod(q)
		rec := httptest.NewRecorder()
		r.rcv.ServeHTTP(rec, q)
		var er wire.ErrorResponse
		json.Unmarshal(rec.Body.Bytes(), &er)
		if er.Code != c.code || rec.Code != wire.StatusOf(c.code) {
			t.Errorf("%s: got %d %q (%s), want %d %q", c.name, rec.Code, er.Code, er.Error, wire.StatusOf(c.code), c.code)
		}
		if n := cb.n.Load(); n != 0 {
			t.Errorf("%s: the receiver read %d bytes of the body, want 0", c.name, n)
		}
	}
	// Without the digest header (an older gateway) the signature can only
	// be checked once the body is in: still refused, from the legacy pool.
	q := httptest.NewRequest("POST", wire.PathBatches, bytes.NewReader(body))
	wire.SignRequest(q, "gw1", other, body, time.Now())
	q.Header.Del(wire.HeaderContentSHA256)
	rec = httptest.NewRecorder()
	r.rcv.ServeHTTP(rec, q)
	if rec.Code != 401 {
		t.Errorf("legacy bad signature: got %d, want 401", rec.Code)
	}
	// The digest header and the body must agree.
	q = httptest.NewRequest("POST", wire.PathBatches, bytes.NewReader(body))
	wire.SignRequest(q, "gw1", r.key, used, time.Now())
	rec = httptest.NewRecorder()
	r.rcv.ServeHTTP(rec, q)
	if rec.Code != 401 {
		t.Errorf("body not matching its digest: got %d, want 401", rec.Code)
	}
	if s := r.rcv.Stats(); s.BudgetInUse != 0 || s.Refused[wire.CodeUnauthorized] != 3 {
		t.Errorf("stats after: %+v", s)
	}
}

// TestLegacyGatewayStillServed: a gateway that does not send the digest
// header (protocol 1 before it existed) is served, from the legacy pool.
func TestLegacyGatewayStillServed(t *testing.T) {
	r := newRig(t, Options{})
	body, _ := wire.GzipBatch(readings(3, 1, 50))
	resp, b := r.do("POST", wire.PathBatches, "gw1", r.key, body, func(q *http.Request) { q.Header.Del(wire.HeaderContentSHA256) })
	if resp.StatusCode != 200 {
		t.Fatalf("legacy batch: %d %s", resp.StatusCode, b)
	}
	if s := r.rcv.Stats(); s.LegacyPeak == 0 || s.BudgetPeak != 0 {
		t.Errorf("the legacy request should have used the legacy pool only: %+v", s)
	}
}

// TestMemoryBudget: a batch whose decoding would need more than a request
// may hold is 413 (the gateway splits it); one that would fit but finds
// the budget held by a slow upload is 503 with Retry-After; the budget is
// whole again afterwards.
func TestMemoryBudget(t *testing.T) {
	r := newRig(t, Options{MemoryBudget: 4 << 20, MaxBody: 4 << 20, MaxDecoded: 16 << 20})
	// ~150k minimal events: 1 MiB of JSON, ~60 MiB to decode.
	n := 150000
	col := strings.TrimSuffix(strings.Repeat("0,", n), ",")
	costly := gz(t, []byte(fmt.Sprintf(`{"version":1,"n":%d,"strings":[""],"epochs":["1"],"seq":[%s],"ts":[%s],"kind":[%s]}`, n, col, col, col)))
	resp, b := r.do("POST", wire.PathBatches, "gw1", r.key, costly, nil)
	if resp.StatusCode != 413 {
		t.Fatalf("batch too costly to decode: got %d %s, want 413", resp.StatusCode, b)
	}

	// Two slow uploads (of two gateways: one gateway holds at most half)
	// hold 3.8 of the 4 MiB while their bodies trickle in.
	big := bytes.Repeat([]byte("y"), 1900<<10)
	key3, _ := r.rcv.AddGateway("gw3")
	var pws []*io.PipeWriter
	done := make(chan int, 2)
	for _, g := range []struct {
		id  string
		key wire.Key
	}{{"gw1", r.key}, {"gw3", key3}} {
		pr, pw := io.Pipe()
		pws = append(pws, pw)
		slow, _ := http.NewRequest("POST", r.srv.URL+wire.PathBatches, pr)
		slow.ContentLength = int64(len(big))
		slow.Header.Set("Content-Encoding", "gzip")
		wire.SignRequest(slow, g.id, g.key, big, time.Now())
		go func() {
			resp, err := r.srv.Client().Do(slow)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write(big[:1000])
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.rcv.Stats().BudgetInUse < 2*int64(len(big)) {
		if time.Now().After(deadline) {
			t.Fatalf("the slow uploads never reserved their bodies: %+v", r.rcv.Stats())
		}
		runtime.Gosched()
	}
	key4, _ := r.rcv.AddGateway("gw4")
	body, _ := wire.GzipBatch(readings(4, 1, 500))
	resp, b = r.do("POST", wire.PathBatches, "gw4", key4, body, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("budget held: got %d %s (Retry-After %q), want 503 with Retry-After", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	if err := wire.VerifyResponse(resp, key4, b); err != nil {
		t.Errorf("503 answer not signed: %v", err)
	}
	for _, pw := range pws {
		pw.Write(big[1000:])
		pw.Close()
	}
	for range pws {
		if st := <-done; st != 413 {
			t.Errorf("slow upload of garbage (its gzip trailer declares 2 GB): got %d, want 413", st)
		}
	}
	if s := r.rcv.Stats(); s.BudgetInUse != 0 || s.BudgetPeak > s.BudgetBytes {
		t.Errorf("budget after: %+v", s)
	}
	resp, b = r.do("POST", wire.PathBatches, "gw4", key4, body, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("budget free again: got %d %s, want 200", resp.StatusCode, b)
	}
}

// TestRateLimit: past its burst a gateway gets 429 with the wait in
// Retry-After; on the receiver's clock, the wait is over and it gets in.
func TestRateLimit(t *testing.T) {
	clk := fakeclock.New(time.Now())
	r := newRig(t, Options{GatewayRate: 0.5, GatewayBurst: 2, Clock: clk})
	hb, _ := json.Marshal(wire.Heartbeat{Version: "x"})
	post := func() *http.Response {
		resp, _ := r.do("POST", wire.PathHeartbeat, "gw1", r.key, hb, func(q *http.Request) {
			wire.SignRequest(q, "gw1", r.key, hb, clk.Now())
		})
		return resp
	}
	for i := 0; i < 2; i++ {
		if resp := post(); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: got %d", i, resp.StatusCode)
		}
	}
	resp := post()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("past the burst: got %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Advance(2 * time.Second)
	if resp := post(); resp.StatusCode != 200 {
		t.Fatalf("after the wait: got %d, want 200", resp.StatusCode)
	}
}

// TestEventTimeWindow: a year-10000 alert from a clock the gateway trusts
// is a poison batch: 422 naming the event, nothing stored (the gateway
// quarantines it). From a clock it does not trust, the same event and a
// 1970 one are stored with their flag, and no query fails on them.
func TestEventTimeWindow(t *testing.T) {
	r := newRig(t, Options{})
	y10k := time.Date(10000, 3, 1, 0, 0, 0, 0, time.UTC)
	alert := wire.Event{Epoch: 5, Seq: 7, Time: y10k, ClockTrusted: true, Kind: wire.KindAlert, Priority: 3, Device: "door-1",
		Alert: &wire.Alert{ID: "door-open/door-1/7", Rule: "door-open", State: wire.AlertFiring, Severity: "high"}}
	for name, tm := range map[string]time.Time{"year 10000": y10k, "1970": time.Unix(5, 0), "two days ahead": time.Now().Add(48 * time.Hour)} {
		e := alert
		e.Time = tm
		body, _ := wire.GzipBatch(append(readings(5, 1, 3), e))
		resp, b := r.do("POST", wire.PathBatches, "gw1", r.key, body, nil)
		var er wire.ErrorResponse
		json.Unmarshal(b, &er)
		if resp.StatusCode != 422 || er.Code != wire.CodeBadEvent || !strings.Contains(er.Error, "event 5/7") {
			t.Errorf("%s, trusted: got %d %s, want 422 bad_event naming event 5/7", name, resp.StatusCode, b)
		}
	}
	if n := r.count(""); n != 0 {
		t.Fatalf("after the poison batches: %d events stored, want 0", n)
	}
	untrusted := []wire.Event{alert, alert}
	untrusted[0].ClockTrusted = false
	untrusted[1].ClockTrusted, untrusted[1].Seq, untrusted[1].Time, untrusted[1].Alert = false, 8, time.Unix(5, 0), &wire.Alert{ID: "b", State: wire.AlertFiring}
	if br := r.postBatch(untrusted); br.Stored != 2 {
		t.Fatalf("untrusted times: got %+v, want 2 stored", br)
	}
	for _, path := range []string{"/v1/admin/events", "/v1/admin/alerts", "/v1/admin/gateways"} {
		if resp, b := r.admin("GET", path, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: got %d %s", path, resp.StatusCode, b)
		}
	}
	_, b := r.admin("GET", "/v1/admin/events", nil)
	var page EventsPage
	json.Unmarshal(b, &page)
	if len(page.Events) != 2 {
		t.Fatalf("events: %s", b)
	}
	if e, err := page.Events[0].Decode(); err != nil || !e.Time.Equal(y10k) || e.ClockTrusted {
		t.Errorf("stored year-10000 event: got %+v %v", e, err)
	}
}

// TestHostileClients is the short version of `edgebench hostile`: real
// concurrent HTTP clients on 127.0.0.1 send forged multi-MiB bodies (with
// and without the digest header), then a gateway with a valid key sends
// gzip bombs and batches too costly to decode, while a good gateway keeps
// posting. Every hostile request gets a 4xx (429/503 with Retry-After when
// the receiver sheds load), never a 5xx; the memory budget holds; the good
// gateway's batches are all stored.
func TestHostileClients(t *testing.T) {
	r := newRig(t, Options{MemoryBudget: 16 << 20})
	evilKey, _ := r.rcv.AddGateway("evil")
	forged := bytes.Repeat([]byte{0x1f, 0x8b, 8, 0}, 1<<20) // 4 MiB
	bomb := gz(t, make([]byte, wire.MaxBatchDecoded))       // honest trailer: refused before decompressing
	liar := bytes.Clone(bomb)
	liar[len(liar)-4], liar[len(liar)-3], liar[len(liar)-2], liar[len(liar)-1] = 0, 0, 0xf0, 0 // claims 15 MiB
	n := 100000
	col := strings.TrimSuffix(strings.Repeat("0,", n), ",")
	costly := gz(t, []byte(fmt.Sprintf(`{"version":1,"n":%d,"strings":[""],"epochs":["1"],"seq":[%s],"ts":[%s],"kind":[%s]}`, n, col, col, col)))

	codes := map[int]int{}
	var mu gosync.Mutex
	var bad []string
	send := func(gw string, key wire.Key, body []byte, digest bool) {
		req, _ := http.NewRequest("POST", r.srv.URL+wire.PathBatches, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		wire.SignRequest(req, gw, key, body, time.Now())
		if !digest {
			req.Header.Del(wire.HeaderContentSHA256)
		}
		resp, err := r.srv.Client().Do(req)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			// The server answers a refused body early and closes: a client
			// still writing the rest may see the close before the answer
			// (a loaded box). That is a refusal too; anything else is not.
			if msg := err.Error(); strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") {
				codes[-1]++
				return
			}
			bad = append(bad, err.Error())
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode < 400 || resp.StatusCode >= 500 && resp.StatusCode != 503 {
			bad = append(bad, fmt.Sprintf("%s: status %d", gw, resp.StatusCode))
		}
		if (resp.StatusCode == 429 || resp.StatusCode == 503) && resp.Header.Get("Retry-After") == "" {
			bad = append(bad, fmt.Sprintf("%d without Retry-After", resp.StatusCode))
		}
	}
	other, _ := wire.NewKey()
	stop := make(chan struct{})
	var good atomic.Int64
	goodDone := make(chan error)
	go func() { // the good gateway
		for seq := uint64(1); ; seq += 100 {
			select {
			case <-stop:
				goodDone <- nil
				return
			default:
			}
			body, _ := wire.GzipBatch(readings(42, seq, 100))
			for {
				req, _ := http.NewRequest("POST", r.srv.URL+wire.PathBatches, bytes.NewReader(body))
				req.Header.Set("Content-Encoding", "gzip")
				wire.SignRequest(req, "gw1", r.key, body, time.Now())
				resp, err := r.srv.Client().Do(req)
				if err != nil {
					goodDone <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					good.Add(100)
					break
				}
				if resp.StatusCode != 503 && resp.StatusCode != 429 {
					goodDone <- fmt.Errorf("good gateway: status %d", resp.StatusCode)
					return
				}
			}
		}
	}()
	var wg gosync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				send("gw1", other, forged, i%2 == 0) // forged, in the good gateway's name
			}
		}()
	}
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				send("evil", evilKey, [][]byte{bomb, liar, costly}[(i+j)%3], true)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-goodDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("hostile answers: %v; good gateway stored %d events; stats %+v", codes, good.Load(), r.rcv.Stats())
	for _, b := range bad {
		t.Error(b)
	}
	if s := r.rcv.Stats(); s.BudgetPeak > s.BudgetBytes || s.BudgetInUse != 0 {
		t.Errorf("budget: %+v", s)
	}
	if got, want := r.count("gw1"), int(good.Load()); got != want || want == 0 {
		t.Errorf("good gateway: %d events stored, %d acknowledged", got, want)
	}
	if r.count("evil") != 0 {
		t.Error("the hostile gateway got events stored")
	}
}

func TestDiagnosticsStored(t *testing.T) {
	r := newRig(t, Options{})
	resp, b := r.admin("POST", "/v1/admin/commands", AddCommandRequest{Gateway: "gw1", Type: wire.CmdSendDiagnostics})
	var c wire.Command
	json.Unmarshal(b, &c)
	if resp.StatusCode != 200 || c.ID == 0 {
		t.Fatalf("queue: %d %s", resp.StatusCode, b)
	}
	if resp, _ := r.admin("GET", "/v1/admin/diagnostics/latest?gateway=gw1", nil); resp.StatusCode != 404 {
		t.Errorf("no bundle yet: got %d, want 404", resp.StatusCode)
	}
	zip := bytes.Repeat([]byte("PK diagnostics "), 250000) // 3.75 MB
	res, _ := json.Marshal(wire.CommandResult{OK: true, Attachment: zip})
	if resp, b := r.do("POST", wire.CommandResultPath(c.ID), "gw1", r.key, res, nil); resp.StatusCode != 200 {
		t.Fatalf("post result: %d %s", resp.StatusCode, b)
	}
	_, b = r.admin("GET", "/v1/admin/diagnostics?gateway=gw1", nil)
	var list struct{ Diagnostics []DiagnosticsEntry }
	json.Unmarshal(b, &list)
	if len(list.Diagnostics) != 1 || list.Diagnostics[0].Bytes != len(zip) || !list.Diagnostics[0].OK || list.Diagnostics[0].Command != c.ID {
		t.Fatalf("list: %s", b)
	}
	for _, which := range []string{"latest", strconv.FormatUint(c.ID, 10)} {
		resp, got := r.admin("GET", "/v1/admin/diagnostics/"+which+"?gateway=gw1", nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, zip) || resp.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("%s: got %d, %d bytes", which, resp.StatusCode, len(got))
		}
	}
	// The command list does not carry the bundle, only its size.
	_, b = r.admin("GET", "/v1/admin/commands?gateway=gw1", nil)
	if len(b) > 10000 || !strings.Contains(string(b), `"attachment_bytes":3750000`) {
		t.Errorf("admin commands: %d bytes: %.300s", len(b), b)
	}
	// Over the limit: refused.
	big, _ := json.Marshal(wire.CommandResult{OK: true, Attachment: make([]byte, wire.MaxAttachment+1)})
	if resp, _ := r.do("POST", wire.CommandResultPath(c.ID), "gw1", r.key, big, nil); resp.StatusCode != 413 {
		t.Errorf("attachment over the limit: got %d, want 413", resp.StatusCode)
	}
}
