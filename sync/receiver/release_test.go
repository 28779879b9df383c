package receiver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// testRelease makes an artifact of size random bytes and its manifest,
// signed with a new key.
func testRelease(t testing.TB, version, goos, goarch, goarm string, size int) (artifact, manifest []byte) {
	t.Helper()
	artifact = make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), uint64(len(version))))
	for i := range artifact {
		artifact[i] = byte(rng.Uint32())
	}
	priv, _, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(artifact)
	manifest, err = wire.SignManifest(wire.Manifest{Version: version, OS: goos, Arch: goarch, GOARM: goarm,
		Size: int64(size), SHA256: hex.EncodeToString(sum[:]), StoreSchema: 2, MinStoreSchema: 1,
		Serial: time.Now().Unix(), Created: time.Now().UTC()}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return artifact, manifest
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pushRelease posts a release to the admin API as edgecentral release
// push does: multipart, the manifest then the artifact.
func (r *rig) pushRelease(artifact, manifest []byte) (*http.Response, []byte) {
	r.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("manifest", "manifest")
	w.Write(manifest)
	w, _ = mw.CreateFormFile("artifact", "artifact")
	w.Write(artifact)
	mw.Close()
	req, _ := http.NewRequest("POST", r.srv.URL+"/v1/admin/releases", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return r.send(req)
}

func (r *rig) mustPush(artifact, manifest []byte) Release {
	r.t.Helper()
	resp, b := r.pushRelease(artifact, manifest)
	if resp.StatusCode != 200 {
		r.t.Fatalf("push: %d %s", resp.StatusCode, b)
	}
	var rel Release
	json.Unmarshal(b, &rel)
	return rel
}

func (r *rig) chunk(gw string, key wire.Key, sha string, rng ...string) (*http.Response, []byte) {
	r.t.Helper()
	resp, b := r.do("GET", wire.ReleasePath(sha), gw, key, nil, func(req *http.Request) {
		for _, h := range rng {
			req.Header.Add("Range", h)
		}
	})
	if err := wire.VerifyResponse(resp, key, b); err != nil {
		r.t.Fatalf("GET %s %v: answer signature: %v", sha, rng, err)
	}
	return resp, b
}

func TestReleasePushAndRangedDownload(t *testing.T) {
	r := newRig(t, Options{})
	const size = 2*wire.MaxArtifactChunk + 12345
	art, man := testRelease(t, "1.5.0", "linux", "arm", "7", size)
	sha := shaOf(art)

	// An artifact that is not the manifest's is refused and not stored.
	bad := bytes.Clone(art)
	bad[size/2] ^= 1
	if resp, b := r.pushRelease(bad, man); resp.StatusCode != 400 || !strings.Contains(string(b), "hash mismatch") {
		t.Fatalf("push of a changed artifact: %d %s", resp.StatusCode, b)
	}
	if resp, b := r.pushRelease(art[:size-1], man); resp.StatusCode != 400 || !strings.Contains(string(b), "size mismatch") {
		t.Fatalf("push of a short artifact: %d %s", resp.StatusCode, b)
	}
	if resp, b := r.pushRelease(append(bytes.Clone(art), 0), man); resp.StatusCode != 400 || !strings.Contains(string(b), "size mismatch") {
		t.Fatalf("push of a long artifact: %d %s", resp.StatusCode, b)
	}
	if resp, b := r.pushRelease(art, []byte(`{"payload":"e30=","signatures":[]}`)); resp.StatusCode != 400 {
		t.Fatalf("push of an unsigned manifest: %d %s", resp.StatusCode, b)
	}
	if resp, _ := r.chunk("gw1", r.key, sha, "bytes=0-9"); resp.StatusCode != 404 {
		t.Fatalf("chunk of a refused release: %d, want 404", resp.StatusCode)
	}

	rel := r.mustPush(art, man)
	if rel.Version != "1.5.0" || rel.Platform != "linux/arm/7" || rel.SHA256 != sha || rel.Size != size {
		t.Fatalf("pushed %+v", rel)
	}
	// Another artifact for the same version and platform: 409.
	art2, man2 := testRelease(t, "1.5.0", "linux", "arm", "7", 100)
	if resp, b := r.pushRelease(art2, man2); resp.StatusCode != 409 {
		t.Fatalf("second artifact of 1.5.0: %d %s", resp.StatusCode, b)
	}

	// Download as a gateway would: a first chunk, then resume from the
	// middle of the second, to the end.
	var got []byte
	resp, b := r.chunk("gw1", r.key, sha, fmt.Sprintf("bytes=0-%d", wire.MaxArtifactChunk-1))
	if resp.StatusCode != 206 || len(b) != wire.MaxArtifactChunk || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-%d/%d", wire.MaxArtifactChunk-1, size) {
		t.Fatalf("first chunk: %d, %d bytes, %q", resp.StatusCode, len(b), resp.Header.Get("Content-Range"))
	}
	got = append(got, b[:700000]...) // the download broke off here
	for off := len(got); off < size; off += len(b) {
		resp, b = r.chunk("gw1", r.key, sha, fmt.Sprintf("bytes=%d-%d", off, off+wire.MaxArtifactChunk-1))
		if resp.StatusCode != 206 {
			t.Fatalf("chunk at %d: %d %s", off, resp.StatusCode, b)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", off, off+len(b)-1, size); resp.Header.Get("Content-Range") != want {
			t.Fatalf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, art) {
		t.Fatal("the downloaded artifact is not the pushed one")
	}

	for _, c := range []struct {
		name string
		rng  []string
	}{
		{"no range", nil},
		{"two ranges", []string{"bytes=0-1,5-9"}},
		{"two headers", []string{"bytes=0-1", "bytes=5-9"}},
		{"open end", []string{"bytes=5-"}},
		{"suffix", []string{"bytes=-100"}},
		{"past the end", []string{fmt.Sprintf("bytes=%d-%d", size, size+10)}},
		{"over 1 MiB", []string{fmt.Sprintf("bytes=0-%d", wire.MaxArtifactChunk)}},
		{"not bytes", []string{"items=0-9"}},
	} {
		resp, b := r.chunk("gw1", r.key, sha, c.rng...)
		var er wire.ErrorResponse
		json.Unmarshal(b, &er)
		if resp.StatusCode != 416 || er.Code != wire.CodeBadRange {
			t.Errorf("%s: %d %s, want 416 bad_range", c.name, resp.StatusCode, b)
		}
	}
	if resp, b := r.chunk("gw1", r.key, strings.Repeat("ab", 32), "bytes=0-9"); resp.StatusCode != 404 {
		t.Errorf("unknown sha: %d %s", resp.StatusCode, b)
	}
	if resp, b := r.chunk("gw1", r.key, "..%2F..%2Fetc%2Fpasswd", "bytes=0-9"); resp.StatusCode != 404 {
		t.Errorf("bad sha: %d %s", resp.StatusCode, b)
	}
	// Unsigned: refused before anything is read.
	req, _ := http.NewRequest("GET", r.srv.URL+wire.ReleasePath(sha), nil)
	req.Header.Set("Range", "bytes=0-9")
	if resp, _ := r.send(req); resp.StatusCode != 401 {
		t.Errorf("unsigned chunk request: %d", resp.StatusCode)
	}

	// The release survives a restart.
	r.restart()
	resp, b = r.chunk("gw1", r.key, sha, fmt.Sprintf("bytes=%d-%d", size-10, size-1))
	if resp.StatusCode != 206 || !bytes.Equal(b, art[size-10:]) {
		t.Fatalf("after restart: %d %x", resp.StatusCode, b)
	}
	_, b = r.admin("GET", "/v1/admin/releases", nil)
	var list struct{ Releases []Release }
	json.Unmarshal(b, &list)
	if len(list.Releases) != 1 || list.Releases[0].SHA256 != sha || list.Releases[0].Manifest != nil {
		t.Fatalf("releases: %s", b)
	}
}

// heartbeat posts a heartbeat with update status st and returns the offer.
func (r *rig) heartbeat(gw string, key wire.Key, st *wire.UpdateStatus) *wire.ReleaseOffer {
	r.t.Helper()
	body, _ := json.Marshal(wire.Heartbeat{Version: "x", Update: st})
	resp, b := r.do("POST", wire.PathHeartbeat, gw, key, body, nil)
	if resp.StatusCode != 200 {
		r.t.Fatalf("heartbeat of %s: %d %s", gw, resp.StatusCode, b)
	}
	if err := wire.VerifyResponse(resp, key, b); err != nil {
		r.t.Fatal(err)
	}
	var hr wire.HeartbeatResponse
	if err := json.Unmarshal(b, &hr); err != nil {
		r.t.Fatal(err)
	}
	return hr.Release
}

func (r *rig) adminJSON(method, path string, in, out any) {
	r.t.Helper()
	resp, b := r.admin(method, path, in)
	if resp.StatusCode != 200 {
		r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatal(err)
		}
	}
}

func TestRolloutOfferAtHeartbeat(t *testing.T) {
	r := newRig(t, Options{})
	art, man := testRelease(t, "1.5.0", "linux", "arm64", "", 5000)
	rel := r.mustPush(art, man)
	// 40 gateways in one committee, 5 elsewhere, one unplaced (gw1).
	keys := map[string]wire.Key{"gw1": r.key}
	var inPlace []string
	for i := range 45 {
		id, place := fmt.Sprintf("cp-%02d", i), "putuo/caoyang/c012/cp07"
		if i >= 40 {
			place = "putuo/ganquan/c001/cp01"
		} else {
			inPlace = append(inPlace, id)
		}
		k, err := AddPlacedGateway(r.store, id, place, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
	}
	st := func(running string, broken ...string) *wire.UpdateStatus {
		return &wire.UpdateStatus{Running: running, Broken: broken, State: wire.UpdateIdle, Platform: "linux/arm64"}
	}
	if o := r.heartbeat("cp-00", keys["cp-00"], st("1.4.0")); o != nil {
		t.Fatalf("offer without a rollout: %+v", o)
	}
	// A rollout needs a pushed version and one scope.
	for _, bad := range []RolloutRequest{{Version: "9.9.9", All: true}, {Version: "1.5.0"},
		{Version: "1.5.0", All: true, Place: "putuo"}, {Version: "1.5.0", Place: "Putuo!"},
		{Version: "1.5.0", Gateway: "nope"}, {Version: "1.5.0", All: true, Canary: 101}} {
		if resp, b := r.admin("POST", "/v1/admin/rollouts", bad); resp.StatusCode == 200 {
			t.Errorf("rollout %+v accepted: %s", bad, b)
		}
	}
	var ro Rollout
	r.adminJSON("POST", "/v1/admin/rollouts", RolloutRequest{Version: "1.5.0", Place: "putuo/caoyang", Canary: 25}, &ro)
	if ro.State != RolloutActive || ro.Canary != 25 || !strings.HasPrefix(ro.ID, "r-") {
		t.Fatalf("rollout %+v", ro)
	}
	offered := func() map[string]bool {
		got := map[string]bool{}
		for id, k := range keys {
			if o := r.heartbeat(id, k, st("1.4.0")); o != nil {
				if o.Rollout != ro.ID || o.Version != "1.5.0" || o.SHA256 != rel.SHA256 || o.Size != 5000 {
					t.Fatalf("offer to %s: %+v", id, o)
				}
				if _, err := wire.ManifestUnverified(o.Manifest); err != nil {
					t.Fatalf("offered manifest: %v", err)
				}
				got[id] = true
			}
		}
		return got
	}
	quarter := offered()
	for id := range quarter {
		if !strings.HasPrefix(id, "cp-") || id >= "cp-40" {
			t.Fatalf("%s is outside putuo/caoyang but was offered", id)
		}
		if !InCanary(ro.ID, id, 25) {
			t.Fatalf("%s offered outside the canary", id)
		}
	}
	for _, id := range inPlace {
		if quarter[id] != InCanary(ro.ID, id, 25) {
			t.Fatalf("%s: offered %v, in the canary %v", id, quarter[id], InCanary(ro.ID, id, 25))
		}
	}
	// Widened: those offered before still are.
	r.adminJSON("POST", "/v1/admin/rollouts/"+ro.ID+"/canary", CanaryRequest{Canary: 60}, nil)
	wider := offered()
	for id := range quarter {
		if !wider[id] {
			t.Errorf("%s was in the 25%% canary, not in the 60%% one", id)
		}
	}
	for _, id := range inPlace {
		if wider[id] != InCanary(ro.ID, id, 60) {
			t.Errorf("%s: offered %v, in the 60%% canary %v", id, wider[id], InCanary(ro.ID, id, 60))
		}
	}
	r.adminJSON("POST", "/v1/admin/rollouts/"+ro.ID+"/canary", CanaryRequest{Canary: 100}, nil)
	if all := offered(); len(all) != 40 {
		t.Errorf("canary 100%%: %d of 40 gateways", len(all))
	}
	// Running it, listing it as broken, another platform, no update status: no offer.
	if o := r.heartbeat("cp-01", keys["cp-01"], st("1.5.0")); o != nil {
		t.Error("offered the version the gateway runs")
	}
	if o := r.heartbeat("cp-01", keys["cp-01"], st("1.4.0", "1.5.0")); o != nil {
		t.Error("offered a version the gateway lists as broken")
	}
	arm := &wire.UpdateStatus{Running: "1.4.0", State: wire.UpdateIdle, Platform: "linux/arm/7"}
	if o := r.heartbeat("cp-02", keys["cp-02"], arm); o != nil {
		t.Error("offered an arm64 release to an arm gateway")
	}
	if o := r.heartbeat("cp-03", keys["cp-03"], nil); o != nil {
		t.Error("offered a release to a gateway without update status")
	}
	var status RolloutStatus
	r.adminJSON("GET", "/v1/admin/rollouts/"+ro.ID, nil, &status)
	if len(status.Gateways) != 40 || fmt.Sprint(status.Missing) != "[linux/arm/7]" {
		t.Fatalf("status: %d gateways, missing %v", len(status.Gateways), status.Missing)
	}
	for _, g := range status.Gateways {
		if g.ID == "cp-02" && g.Note != "no release for linux/arm/7" {
			t.Errorf("cp-02: note %q", g.Note)
		}
	}
	// A newer rollout to one gateway wins there; the older still covers the rest.
	art2, man2 := testRelease(t, "1.5.1", "linux", "arm64", "", 3000)
	r.mustPush(art2, man2)
	var ro2 Rollout
	r.adminJSON("POST", "/v1/admin/rollouts", RolloutRequest{Version: "1.5.1", Gateway: "cp-05", AllowDowngrade: true}, &ro2)
	if o := r.heartbeat("cp-05", keys["cp-05"], st("1.4.0")); o == nil || o.Rollout != ro2.ID || o.Version != "1.5.1" || !o.AllowDowngrade {
		t.Errorf("cp-05 after the second rollout: %+v", o)
	}
	if o := r.heartbeat("cp-06", keys["cp-06"], st("1.4.0")); o == nil || o.Rollout != ro.ID {
		t.Errorf("cp-06 after the second rollout: %+v", o)
	}
	// Halted: the gateway falls back to the older rollout.
	r.adminJSON("POST", "/v1/admin/rollouts/"+ro2.ID+"/halt", HaltRequest{}, nil)
	if o := r.heartbeat("cp-05", keys["cp-05"], st("1.4.0")); o == nil || o.Rollout != ro.ID {
		t.Errorf("cp-05 after the halt: %+v", o)
	}
	var list struct{ Rollouts []RolloutStatus }
	r.adminJSON("GET", "/v1/admin/rollouts", nil, &list)
	if len(list.Rollouts) != 2 || list.Rollouts[0].ID != ro2.ID || list.Rollouts[0].State != RolloutHalted || list.Rollouts[0].Reason != "halted by the operator" {
		t.Errorf("rollouts: %+v", list.Rollouts)
	}
}

func TestRolloutHaltedByReport(t *testing.T) {
	r := newRig(t, Options{})
	art, man := testRelease(t, "2.0.0", "linux", "amd64", "", 1000)
	r.mustPush(art, man)
	var ro Rollout
	r.adminJSON("POST", "/v1/admin/rollouts", RolloutRequest{Version: "2.0.0", All: true}, &ro)
	st := &wire.UpdateStatus{Running: "1.9.0", State: wire.UpdateIdle, Platform: "linux/amd64"}
	if o := r.heartbeat("gw1", r.key, st); o == nil {
		t.Fatal("no offer")
	}
	report := func(rep wire.UpdateReport) (int, []byte) {
		body, _ := json.Marshal(rep)
		resp, b := r.do("POST", wire.PathReleaseReport, "gw1", r.key, body, nil)
		if err := wire.VerifyResponse(resp, r.key, b); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	// A refusal is recorded but halts nothing; a bad report is refused.
	if c, b := report(wire.UpdateReport{Rollout: ro.ID, From: "1.9.0", To: "2.0.0", Outcome: wire.UpdateRefused, Reason: "store schema 3", At: time.Now()}); c != 200 {
		t.Fatalf("refused report: %d %s", c, b)
	}
	if c, _ := report(wire.UpdateReport{Rollout: ro.ID, Outcome: "exploded"}); c != 400 {
		t.Errorf("unknown outcome: %d", c)
	}
	if c, _ := report(wire.UpdateReport{Rollout: ro.ID, Outcome: wire.UpdateFailed, LogTail: strings.Repeat("x", wire.MaxLogTail+1)}); c != 413 {
		t.Errorf("log tail over the limit: %d", c)
	}
	big, _ := json.Marshal(wire.UpdateReport{Outcome: wire.UpdateFailed, Reason: strings.Repeat("\x00", maxReportBody/5)})
	if resp, _ := r.do("POST", wire.PathReleaseReport, "gw1", r.key, big, nil); resp.StatusCode != 413 {
		t.Errorf("report body over the limit: %d", resp.StatusCode)
	}
	if o := r.heartbeat("gw1", r.key, st); o == nil {
		t.Fatal("no offer after a refusal")
	}
	// A gateway outside the rollout cannot halt it.
	kOut, err := AddPlacedGateway(r.store, "outsider", "putuo/x/y/z", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ro3 Rollout
	r.adminJSON("POST", "/v1/admin/rollouts", RolloutRequest{Version: "2.0.0", Gateway: "gw1"}, &ro3)
	body, _ := json.Marshal(wire.UpdateReport{Rollout: ro3.ID, Outcome: wire.UpdateRolledBack, Reason: "forged"})
	if resp, b := r.do("POST", wire.PathReleaseReport, "outsider", kOut, body, nil); resp.StatusCode != 200 {
		t.Fatalf("outsider's report: %d %s", resp.StatusCode, b)
	}
	if got, err := r.store.Rollout(ro3.ID); err != nil || got.State != RolloutActive {
		t.Fatalf("a gateway outside the rollout halted it: %+v %v", got, err)
	}
	r.adminJSON("POST", "/v1/admin/rollouts/"+ro3.ID+"/halt", HaltRequest{Reason: "test"}, nil)
	tail := strings.Repeat("panic: boom\n", 100)
	if c, b := report(wire.UpdateReport{Rollout: ro.ID, From: "1.9.0", To: "2.0.0", Outcome: wire.UpdateRolledBack,
		Reason: "exited 3 times during its trial", Attempts: 3, ExitCodes: []int{2, 2, 2}, LogTail: tail, At: time.Now()}); c != 200 {
		t.Fatalf("rolled_back report: %d %s", c, b)
	}
	if o := r.heartbeat("gw1", r.key, st); o != nil {
		t.Fatalf("offer after a rollback: %+v", o)
	}
	got, err := r.store.Rollout(ro.ID)
	if err != nil || got.State != RolloutHalted || !strings.Contains(got.Reason, "exited 3 times during its trial") || !strings.Contains(got.Reason, "gw1") {
		t.Fatalf("rollout after the report: %+v %v", got, err)
	}
	var st2 RolloutStatus
	r.adminJSON("GET", "/v1/admin/rollouts/"+ro.ID, nil, &st2)
	if len(st2.Gateways) != 2 || st2.Gateways[0].ID != "gw1" || st2.Gateways[0].Outcome != wire.UpdateRolledBack || st2.Gateways[0].Running != "1.9.0" || st2.Gateways[0].Note != "halted" {
		t.Fatalf("status: %+v", st2.Gateways)
	}
	// Resumed: offered again.
	r.adminJSON("POST", "/v1/admin/rollouts/"+ro.ID+"/resume", nil, nil)
	if o := r.heartbeat("gw1", r.key, st); o == nil {
		t.Fatal("no offer after resume")
	}
	// The last 20 reports are kept.
	for i := range 25 {
		if c, b := report(wire.UpdateReport{From: "1.9.0", To: "2.0.0", Outcome: wire.UpdateRefused, Reason: fmt.Sprint("r", i)}); c != 200 {
			t.Fatalf("report %d: %d %s", i, c, b)
		}
	}
	var reps struct{ Reports []StoredReport }
	r.adminJSON("GET", "/v1/admin/update-reports?gateway=gw1", nil, &reps)
	if len(reps.Reports) != MaxReportsPerGateway || reps.Reports[0].Reason != "r5" || reps.Reports[19].Reason != "r24" {
		t.Fatalf("kept %d reports, first %+v", len(reps.Reports), reps.Reports[0])
	}
	if ro, err := r.store.Rollout(ro.ID); err != nil || ro.State != RolloutActive {
		t.Fatalf("refusals halted the rollout: %+v", ro)
	}
}

// TestReleasePushStreams pushes an artifact larger than the memory
// budget and the body limit of any gateway request: it is streamed.
func TestReleasePushStreams(t *testing.T) {
	r := newRig(t, Options{MemoryBudget: 1 << 20})
	const size = 24 << 20
	art, man := testRelease(t, "3.0.0", "windows", "amd64", "", size)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		w, _ := mw.CreateFormFile("manifest", "m")
		w.Write(man)
		w, _ = mw.CreateFormFile("artifact", "a")
		for off := 0; off < size; off += 1 << 16 {
			w.Write(art[off : off+1<<16])
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest("POST", r.srv.URL+"/v1/admin/releases", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, b := r.send(req); resp.StatusCode != 200 {
		t.Fatalf("push: %d %s", resp.StatusCode, b)
	}
	// With a 1 MiB budget a chunk of 1 MiB is more than a request may hold.
	if resp, _ := r.chunk("gw1", r.key, shaOf(art), "bytes=0-1048575"); resp.StatusCode != 413 {
		t.Errorf("1 MiB chunk on a 1 MiB budget: %d", resp.StatusCode)
	}
	resp, b := r.chunk("gw1", r.key, shaOf(art), "bytes=20000000-20262143")
	if resp.StatusCode != 206 || !bytes.Equal(b, art[20000000:20262144]) {
		t.Fatalf("chunk: %d", resp.StatusCode)
	}
}

// The canary takes about its percentage of the gateways, a different
// sample for each rollout, and a wider canary holds a narrower one.
func TestRolloutCanaryDistribution(t *testing.T) {
	const n = 20000
	for _, ro := range []string{"r-1765000000", "r-1765000001"} {
		for _, pct := range []int{1, 10, 25, 50, 99} {
			in := 0
			for i := range n {
				gw := fmt.Sprintf("gw-%d", i)
				if InCanary(ro, gw, pct) {
					in++
					if !InCanary(ro, gw, pct+1) {
						t.Fatalf("%s in the %d%% canary, not the %d%% one", gw, pct, pct+1)
					}
				}
			}
			if want := n * pct / 100; in < want-want/8-20 || in > want+want/8+20 {
				t.Errorf("rollout %s canary %d%%: %d of %d gateways, want about %d", ro, pct, in, n, want)
			}
		}
	}
	same := 0
	for i := range 1000 {
		gw := fmt.Sprintf("gw-%d", i)
		if InCanary("r-1", gw, 50) == InCanary("r-2", gw, 50) {
			same++
		}
	}
	if same > 600 || same < 400 {
		t.Errorf("two rollouts agree on %d of 1000 gateways: not independent samples", same)
	}
	if !InCanary("r-1", "gw", 100) || InCanary("r-1", "gw", 0) {
		t.Error("100% must take everyone, 0% no one")
	}
}

// With release keys, a push signed by another key is refused.
func TestReleasePushTrustedKeys(t *testing.T) {
	priv, _, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Options{ReleaseKeys: []wire.ReleasePublicKey{priv.Public()}})
	art, man := testRelease(t, "1.0.0", "linux", "amd64", "", 100) // signed by a key of its own
	if resp, b := r.pushRelease(art, man); resp.StatusCode != 400 || !strings.Contains(string(b), "unknown key") {
		t.Fatalf("push signed by an untrusted key: %d %s", resp.StatusCode, b)
	}
	m, err := wire.ManifestUnverified(man)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := wire.SignManifest(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	if rel := r.mustPush(art, signed); rel.Version != "1.0.0" {
		t.Fatalf("pushed %+v", rel)
	}
}

// Many gateways downloading at once hold no more than the memory budget:
// each chunk is reserved before it is read, and a request that does not
// fit is answered 503 (or 429 for one gateway's share) to be retried.
func TestReleaseChunksWithinBudget(t *testing.T) {
	const budget = 4 << 20
	r := newRig(t, Options{MemoryBudget: budget})
	const size = 3 << 20
	art, man := testRelease(t, "4.0.0", "linux", "amd64", "", size)
	r.mustPush(art, man)
	sha := shaOf(art)
	keys := map[string]wire.Key{}
	for i := range 6 {
		id := fmt.Sprintf("dl-%d", i)
		k, err := r.rcv.AddGateway(id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
	}
	type result struct {
		status int
		ok     bool
	}
	results := make(chan result, 6*6)
	for id, k := range keys {
		for j := range 6 {
			go func() {
				off := (j % 3) << 20
				req, _ := http.NewRequest("GET", r.srv.URL+wire.ReleasePath(sha), nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+(1<<20)-1))
				wire.SignRequest(req, id, k, nil, time.Now())
				resp, err := r.srv.Client().Do(req)
				if err != nil {
					results <- result{}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results <- result{resp.StatusCode, resp.StatusCode == 206 && bytes.Equal(b, art[off:off+1<<20])}
			}()
		}
	}
	served := 0
	for range 36 {
		res := <-results
		switch res.status {
		case 206:
			if !res.ok {
				t.Fatal("a chunk with the wrong bytes")
			}
			served++
		case 429, 503:
		default:
			t.Fatalf("status %d", res.status)
		}
	}
	if served == 0 {
		t.Fatal("no chunk served")
	}
	// The chunks were counted (a 1 MiB buffer each), and given back once
	// the handlers return (just after their answers were read).
	if st := r.rcv.Stats(); st.BudgetPeak > budget || st.BudgetPeak < 1<<20 {
		t.Fatalf("budget peak %d (budget %d)", st.BudgetPeak, budget)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.rcv.Stats().BudgetInUse != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("budget in use %d after every answer", r.rcv.Stats().BudgetInUse)
		}
		<-time.After(5 * time.Millisecond)
	}
}
