package receiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// get sends a signed GET as gw1 and verifies the answer's signature.
func (r *rig) signedGet(path string, mod func(*http.Request)) (*http.Response, []byte) {
	r.t.Helper()
	resp, b := r.do("GET", path, "gw1", r.key, nil, mod)
	if err := wire.VerifyResponse(resp, r.key, b); err != nil {
		r.t.Fatalf("GET %s: answer signature: %v", path, err)
	}
	return resp, b
}

func TestConfigBundle(t *testing.T) {
	r := newRig(t, Options{})
	if resp, _ := r.signedGet(wire.PathConfig, nil); resp.StatusCode != 404 {
		t.Fatalf("no config yet: got %d, want 404", resp.StatusCode)
	}
	resp, b := r.admin("POST", "/v1/admin/config", PutConfigRequest{Gateway: "gw1", YAML: "gateway:\n  id: gw1\n"})
	if resp.StatusCode != 200 {
		t.Fatalf("push config: %d %s", resp.StatusCode, b)
	}
	resp, b = r.signedGet(wire.PathConfig, nil)
	var cb wire.ConfigBundle
	json.Unmarshal(b, &cb)
	if resp.StatusCode != 200 || cb.Version != "1" || cb.YAML != "gateway:\n  id: gw1\n" || resp.Header.Get("ETag") != cb.ETag || cb.ETag == "" {
		t.Fatalf("get config: %d %+v etag %q", resp.StatusCode, cb, resp.Header.Get("ETag"))
	}
	resp, b = r.signedGet(wire.PathConfig, func(q *http.Request) {
		q.Header.Set("If-None-Match", cb.ETag)
		wire.SignRequest(q, "gw1", r.key, nil, time.Now())
	})
	if resp.StatusCode != 304 || len(b) != 0 {
		t.Fatalf("If-None-Match current: got %d %q, want 304", resp.StatusCode, b)
	}
	r.admin("POST", "/v1/admin/config", PutConfigRequest{Gateway: "gw1", YAML: "gateway:\n  id: gw1-new\n"})
	resp, b = r.signedGet(wire.PathConfig, func(q *http.Request) { q.Header.Set("If-None-Match", cb.ETag) })
	var cb2 wire.ConfigBundle
	json.Unmarshal(b, &cb2)
	if resp.StatusCode != 200 || cb2.Version != "2" || cb2.ETag == cb.ETag {
		t.Fatalf("new config: got %d %+v", resp.StatusCode, cb2)
	}
	if resp, _ := r.admin("POST", "/v1/admin/config", PutConfigRequest{Gateway: "nope", YAML: "x: 1"}); resp.StatusCode != 404 {
		t.Errorf("config for unknown gateway: got %d, want 404", resp.StatusCode)
	}
}

func TestCommandsAndResults(t *testing.T) {
	r := newRig(t, Options{})
	resp, b := r.admin("POST", "/v1/admin/commands", AddCommandRequest{Gateway: "gw1", Type: wire.CmdPulseOutput,
		Args: map[string]string{"output": "siren", "duration": "5s"}})
	if resp.StatusCode != 200 {
		t.Fatalf("queue command: %d %s", resp.StatusCode, b)
	}
	r.admin("POST", "/v1/admin/commands", AddCommandRequest{Gateway: "gw1", Type: wire.CmdAckAlert, Args: map[string]string{"id": "a1"}})
	if resp, _ := r.admin("POST", "/v1/admin/commands", AddCommandRequest{Gateway: "gw1", Type: "reboot"}); resp.StatusCode != 400 {
		t.Errorf("unknown type: got %d, want 400", resp.StatusCode)
	}
	_, b = r.signedGet(wire.PathCommands+"?after=0", nil)
	var list wire.CommandList
	json.Unmarshal(b, &list)
	if len(list.Commands) != 2 || list.Commands[0].Type != wire.CmdPulseOutput || list.Commands[0].Args["output"] != "siren" ||
		list.Commands[1].ID <= list.Commands[0].ID {
		t.Fatalf("got %+v", list)
	}
	_, b = r.signedGet(wire.PathCommands+"?after="+jsonNum(list.Commands[0].ID), nil)
	var list2 wire.CommandList
	json.Unmarshal(b, &list2)
	if len(list2.Commands) != 1 || list2.Commands[0].ID != list.Commands[1].ID {
		t.Fatalf("after first: got %+v", list2)
	}

	res, _ := json.Marshal(wire.CommandResult{OK: false, Error: "output siren: write timeout"})
	id := list.Commands[0].ID
	for i := 0; i < 2; i++ { // the second result is acknowledged and ignored
		resp, b := r.do("POST", wire.CommandResultPath(id), "gw1", r.key, res, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("post result: %d %s", resp.StatusCode, b)
		}
	}
	other, _ := json.Marshal(wire.CommandResult{OK: true})
	r.do("POST", wire.CommandResultPath(id), "gw1", r.key, other, nil)
	if resp, _ := r.do("POST", wire.CommandResultPath(999), "gw1", r.key, res, nil); resp.StatusCode != 404 {
		t.Errorf("result for unknown command: got %d, want 404", resp.StatusCode)
	}
	_, b = r.signedGet(wire.PathCommands+"?after=0", nil)
	json.Unmarshal(b, &list2)
	if len(list2.Commands) != 1 || list2.Commands[0].ID == id {
		t.Fatalf("pending after result: got %+v", list2)
	}
	_, b = r.admin("GET", "/v1/admin/commands?gateway=gw1", nil)
	var all struct{ Commands []CommandEntry }
	json.Unmarshal(b, &all)
	if len(all.Commands) != 2 || all.Commands[0].Result == nil || all.Commands[0].Result.OK || all.Commands[0].Result.Error != "output siren: write timeout" {
		t.Fatalf("admin commands: got %s", b)
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestHeartbeatRecordsSkew(t *testing.T) {
	r := newRig(t, Options{})
	hb, _ := json.Marshal(wire.Heartbeat{Version: "0.1.0", BacklogEvents: 1200, ClockSkewMillis: -1500, SkewKnown: true, DevicesOnline: 3, DevicesTotal: 4})
	resp, b := r.do("POST", wire.PathHeartbeat, "gw1", r.key, hb, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Date") == "" {
		t.Fatalf("heartbeat: %d %s", resp.StatusCode, b)
	}
	if err := wire.VerifyResponse(resp, r.key, b); err != nil {
		t.Fatal(err)
	}
	var hr wire.HeartbeatResponse
	json.Unmarshal(b, &hr)
	if time.Since(hr.ServerTime).Abs() > time.Minute {
		t.Errorf("server_time %v", hr.ServerTime)
	}
	if resp, _ := r.do("POST", wire.PathHeartbeat, "gw1", r.key, []byte("{not json"), nil); resp.StatusCode != 400 {
		t.Errorf("bad heartbeat: got %d, want 400", resp.StatusCode)
	}
	_, b = r.admin("GET", "/v1/admin/gateways", nil)
	var out struct{ Gateways []GatewayStatus }
	json.Unmarshal(b, &out)
	if len(out.Gateways) != 1 || out.Gateways[0].ClockSkewMillis != -1500 || !out.Gateways[0].SkewKnown ||
		out.Gateways[0].LastHeartbeat == nil || out.Gateways[0].LastHeartbeat.BacklogEvents != 1200 {
		t.Fatalf("gateways: got %s", b)
	}
}

func TestAdminAccess(t *testing.T) {
	r := newRig(t, Options{AdminToken: "s3cret"})
	if resp, _ := r.admin("GET", "/v1/admin/gateways", nil); resp.StatusCode != 403 {
		t.Errorf("no token: got %d, want 403", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", r.srv.URL+"/v1/admin/gateways", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if resp, b := r.send(req); resp.StatusCode != 200 {
		t.Errorf("token: got %d %s, want 200", resp.StatusCode, b)
	}
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, _ := r.send(req); resp.StatusCode != 403 {
		t.Errorf("wrong token: got %d, want 403", resp.StatusCode)
	}

	// Without a token, only loopback clients are served.
	open, err := New(Options{Store: r.store})
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[string]int{"127.0.0.1:5000": 200, "[::1]:5000": 200, "10.1.2.3:5000": 403} {
		rec := httptest.NewRecorder()
		q := httptest.NewRequest("GET", "/v1/admin/gateways", nil)
		q.RemoteAddr = remote
		open.ServeHTTP(rec, q)
		if rec.Code != want {
			t.Errorf("from %s: got %d, want %d", remote, rec.Code, want)
		}
	}
	// Gateways cannot use the admin API with their key, and admin paths need no gateway headers.
	rec := httptest.NewRecorder()
	q := httptest.NewRequest("POST", "/v1/admin/gateways", nil)
	q.RemoteAddr = "10.1.2.3:5000"
	wire.SignRequest(q, "gw1", r.key, nil, time.Now())
	open.ServeHTTP(rec, q)
	if rec.Code != 403 {
		t.Errorf("signed gateway on admin API: got %d, want 403", rec.Code)
	}
}

func TestAdminEventsCursor(t *testing.T) {
	r := newRig(t, Options{})
	key2, _ := r.rcv.AddGateway("gw2")
	r.postBatch(readings(1, 1, 30))
	body, _ := wire.GzipBatch(readings(2, 1, 20))
	if resp, b := r.do("POST", wire.PathBatches, "gw2", key2, body, nil); resp.StatusCode != 200 {
		t.Fatalf("gw2: %d %s", resp.StatusCode, b)
	}
	r.postBatch(readings(1, 31, 30))
	var after uint64
	total := 0
	for page := 0; page < 10; page++ {
		_, b := r.admin("GET", "/v1/admin/events?gateway=gw1&limit=25&after="+jsonNum(after), nil)
		var p EventsPage
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			if e.Gateway != "gw1" {
				t.Fatalf("got gateway %q", e.Gateway)
			}
			ev, _ := e.Decode()
			if ev.Seq != uint64(total+1) {
				t.Fatalf("event %d has seq %d: not arrival order", total, ev.Seq)
			}
			total++
		}
		if len(p.Events) == 0 {
			break
		}
		after = p.Next
	}
	if total != 60 {
		t.Fatalf("got %d gw1 events, want 60", total)
	}
	_, b := r.admin("GET", "/v1/admin/events?limit=10000", nil)
	var p EventsPage
	json.Unmarshal(b, &p)
	if len(p.Events) != 80 {
		t.Fatalf("all gateways: got %d, want 80", len(p.Events))
	}
	if resp, _ := r.admin("GET", "/v1/admin/events?after=x", nil); resp.StatusCode != 400 {
		t.Errorf("bad cursor: got %d, want 400", resp.StatusCode)
	}
}

func httptestServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
