package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// releaseCacheTTL is how long a receiver answers heartbeats from the
// rollouts and releases it read last; a change through this receiver
// clears it at once, one through another receiver of a cluster is seen
// within it.
const releaseCacheTTL = 2 * time.Second

// maxReportBody bounds POST /v1/releases/report: the log tail and the rest.
const maxReportBody = wire.MaxLogTail*2 + 16<<10

// Bounds of a stored report's fields besides its log tail.
const (
	maxReportReason = 2 << 10
	maxExitCodes    = 32
)

type releaseIndex struct {
	at       time.Time
	rollouts []Rollout
	releases []Release
}

// releaseStore is the store's ReleaseStorage, nil if it has none.
func (r *Receiver) releaseStore() ReleaseStorage {
	rs, _ := r.store.(ReleaseStorage)
	return rs
}

// index returns the rollouts and releases, read again when the last read
// is older than releaseCacheTTL. When the store fails, the last read is
// used (an empty answer would withdraw every gateway's assignment).
func (r *Receiver) index(rs ReleaseStorage, now time.Time) (*releaseIndex, error) {
	r.relMu.Lock()
	defer r.relMu.Unlock()
	if r.relIdx != nil && now.Sub(r.relIdx.at) < releaseCacheTTL && now.Sub(r.relIdx.at) >= 0 {
		return r.relIdx, nil
	}
	ros, err := rs.Rollouts()
	var rels []Release
	if err == nil {
		rels, err = rs.Releases()
	}
	if err != nil {
		if r.relIdx != nil {
			return r.relIdx, nil
		}
		return nil, err
	}
	r.relIdx = &releaseIndex{at: now, rollouts: ros, releases: rels}
	return r.relIdx, nil
}

// forgetIndex makes the next heartbeat read rollouts and releases again.
func (r *Receiver) forgetIndex() {
	r.relMu.Lock()
	r.relIdx = nil
	r.relMu.Unlock()
}

// offer is the release assigned to gateway g, whose heartbeat carried st.
func (r *Receiver) offer(g Gateway, st *wire.UpdateStatus, now time.Time) *wire.ReleaseOffer {
	rs := r.releaseStore()
	if rs == nil || st == nil {
		return nil
	}
	idx, err := r.index(rs, now)
	if err != nil {
		r.log.Warn("load rollouts", "gateway", g.ID, "error", err)
		return nil
	}
	return Assign(g, st, idx.rollouts, idx.releases).Offer()
}

// handleReleaseChunk answers GET /v1/releases/{sha256} with one range of
// the artifact: 206 with Content-Range, signed.
func (r *Receiver) handleReleaseChunk(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	sha := req.PathValue("sha")
	rs := r.releaseStore()
	if rs == nil || !wire.ValidSHA256(sha) {
		r.fail(w, nil, req, key, now, wire.CodeNotFound, fmt.Sprintf("no release %.64q", sha))
		return
	}
	rel, err := rs.Release(sha)
	if errors.Is(err, ErrNotFound) {
		r.fail(w, nil, req, key, now, wire.CodeNotFound, "no release "+sha)
		return
	} else if err != nil {
		r.failStore(w, r.log, req, key, now, "load release", err)
		return
	}
	hdr := req.Header.Values("Range")
	if len(hdr) != 1 || strings.Contains(hdr[0], ",") {
		r.fail(w, nil, req, key, now, wire.CodeBadRange, fmt.Sprintf("want one Range: bytes=first-last within the %d bytes of the artifact", rel.Size))
		return
	}
	off, n, err := wire.ParseRange(hdr[0], rel.Size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", rel.Size))
		r.fail(w, nil, req, key, now, wire.CodeBadRange, err.Error())
		return
	}
	// The chunk is held once, and its signature needs all of it before
	// the answer starts.
	if err := a.charge.reserve(n); err != nil {
		r.failReserve(w, r.log, req, key, now, err, "release chunk")
		return
	}
	buf := make([]byte, n)
	if err := rs.ReadArtifact(sha, off, buf); err != nil {
		r.failStore(w, r.log, req, key, now, "read artifact", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, rel.Size))
	wire.SignResponseHeaders(h, *key, req, http.StatusPartialContent, buf, now)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusPartialContent)
	w.Write(buf)
}

// handleReleaseReport stores a gateway's update report; one that says an
// update failed or was rolled back halts the rollout it names.
func (r *Receiver) handleReleaseReport(w http.ResponseWriter, req *http.Request, a *authed) {
	now := r.clk.Now()
	key := &a.gw.Key
	rs := r.releaseStore()
	if rs == nil {
		r.fail(w, nil, req, key, now, wire.CodeNotFound, ErrNoReleases.Error())
		return
	}
	var rep wire.UpdateReport
	if err := json.Unmarshal(a.body, &rep); err != nil {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, "update report: "+err.Error())
		return
	}
	if len(rep.LogTail) > wire.MaxLogTail {
		r.fail(w, nil, req, key, now, wire.CodeTooLarge, fmt.Sprintf("update report: log tail of %d bytes, the limit is %d", len(rep.LogTail), wire.MaxLogTail))
		return
	}
	switch rep.Outcome {
	case wire.UpdateRolledBack, wire.UpdateRefused, wire.UpdateFailed, wire.UpdateCommitted:
	default:
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, fmt.Sprintf("update report: outcome %.40q: want rolled_back, refused, failed or committed", rep.Outcome))
		return
	}
	if rep.Rollout != "" && !ValidRolloutID(rep.Rollout) {
		r.fail(w, nil, req, key, now, wire.CodeBadRequest, fmt.Sprintf("update report: rollout %.70q", rep.Rollout))
		return
	}
	rep.Reason = truncate(rep.Reason, maxReportReason)
	rep.From, rep.To = truncate(rep.From, 64), truncate(rep.To, 64)
	if len(rep.ExitCodes) > maxExitCodes {
		rep.ExitCodes = rep.ExitCodes[len(rep.ExitCodes)-maxExitCodes:]
	}
	if !wire.TimeFitsJSON(rep.At) {
		rep.At = time.Time{}
	}
	if err := rs.AddUpdateReport(StoredReport{Gateway: a.gw.ID, Received: now.UTC(), UpdateReport: rep}); err != nil {
		r.failStore(w, r.log, req, key, now, "store update report", err)
		return
	}
	r.log.Info("update report", "gateway", a.gw.ID, "rollout", rep.Rollout, "from", rep.From, "to", rep.To,
		"outcome", rep.Outcome, "reason", rep.Reason)
	if rep.Rollout != "" && (rep.Outcome == wire.UpdateRolledBack || rep.Outcome == wire.UpdateFailed) {
		if !r.haltByReport(w, req, rs, a.gw, rep, now) {
			return
		}
	}
	writeJSON(w, req, key, now, http.StatusOK, map[string]bool{"ok": true})
}

// haltByReport halts the rollout a failure report names, when the rollout
// covers the reporting gateway (its scope and canary, whatever its state):
// a gateway cannot halt a rollout that never concerned it. It answers and
// returns false when the store fails.
func (r *Receiver) haltByReport(w http.ResponseWriter, req *http.Request, rs ReleaseStorage, g Gateway, rep wire.UpdateReport, now time.Time) bool {
	ro, err := rs.Rollout(rep.Rollout)
	if errors.Is(err, ErrNotFound) {
		return true
	} else if err != nil {
		r.failStore(w, r.log, req, &g.Key, now, "load rollout", err)
		return false
	}
	if !ro.InScope(g) || !InCanary(ro.ID, g.ID, ro.Canary) {
		r.log.Warn("update report names a rollout that does not cover the gateway", "gateway", g.ID, "rollout", ro.ID)
		return true
	}
	reason := fmt.Sprintf("%s on gateway %s: %s", rep.Outcome, g.ID, rep.Reason)
	ro, err = HaltRollout(rs, rep.Rollout, reason, now)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		r.failStore(w, r.log, req, &g.Key, now, "halt rollout", err)
		return false
	default:
		r.forgetIndex()
		r.log.Warn("rollout halted", "rollout", ro.ID, "version", ro.Version, "reason", ro.Reason)
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// adminReleaseStore answers 404 and returns nil without ReleaseStorage.
func (r *Receiver) adminReleaseStore(w http.ResponseWriter, req *http.Request) ReleaseStorage {
	rs := r.releaseStore()
	if rs == nil {
		r.adminErr(w, req, wire.CodeNotFound, ErrNoReleases.Error())
	}
	return rs
}

// adminPushRelease stores a release: POST /v1/admin/releases, a
// multipart/form-data body of the part "manifest" (the manifest file)
// and then the part "artifact", streamed to the store.
func (r *Receiver) adminPushRelease(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	// An artifact of 512 MiB takes longer than the server's read timeout
	// on a slow link: no deadline for an admin's push (its size is
	// bounded, and only an admin may send one).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		r.adminErr(w, req, wire.CodeUnsupported, "release push: want multipart/form-data with the parts manifest and artifact")
		return
	}
	body := http.MaxBytesReader(w, req.Body, wire.MaxManifest+wire.MaxArtifact+64<<10)
	mr := multipart.NewReader(body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "manifest" {
		r.adminErr(w, req, wire.CodeBadRequest, "release push: the first part must be the manifest")
		return
	}
	manifest, err := io.ReadAll(io.LimitReader(part, wire.MaxManifest+1))
	if err != nil {
		r.adminErr(w, req, wire.CodeBadRequest, "release push: manifest: "+err.Error())
		return
	}
	if len(manifest) > wire.MaxManifest {
		r.adminErr(w, req, wire.CodeTooLarge, fmt.Sprintf("release push: manifest over %d bytes", wire.MaxManifest))
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "artifact" {
		r.adminErr(w, req, wire.CodeBadRequest, "release push: the second part must be the artifact")
		return
	}
	rel, err := PushRelease(rs, manifest, part, r.opts.ReleaseKeys, r.clk.Now())
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		r.adminErr(w, req, wire.CodeTooLarge, "release push: "+err.Error())
	case errors.Is(err, ErrBadRelease):
		r.adminErr(w, req, wire.CodeBadRequest, "release push: "+err.Error())
	case errors.Is(err, ErrExists):
		r.adminErr(w, req, wire.CodeConflict, "release push: "+err.Error())
	case err != nil:
		r.adminErr(w, req, wire.CodeInternal, "release push: "+err.Error())
	default:
		r.forgetIndex()
		r.log.Info("release pushed", "version", rel.Version, "platform", rel.Platform, "sha256", rel.SHA256, "size", rel.Size)
		rel.Manifest = nil
		r.adminOK(w, req, rel)
	}
}

func (r *Receiver) adminReleases(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	rels, err := rs.Releases()
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list releases: "+err.Error())
		return
	}
	for i := range rels {
		rels[i].Manifest = nil
	}
	if rels == nil {
		rels = []Release{}
	}
	r.adminOK(w, req, map[string]any{"releases": rels})
}

func (r *Receiver) adminCreateRollout(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	var in RolloutRequest
	if !r.readAdmin(w, req, &in) {
		return
	}
	ro, err := CreateRollout(r.store, rs, in, r.clk.Now())
	if err != nil {
		code := wire.CodeBadRequest
		if errors.Is(err, ErrNotFound) {
			code = wire.CodeNotFound
		} else if errors.Is(err, ErrUnavailable) {
			code = wire.CodeOverloaded
		}
		r.adminErr(w, req, code, "rollout: "+err.Error())
		return
	}
	r.forgetIndex()
	r.log.Info("rollout started", "rollout", ro.ID, "version", ro.Version, "scope", ro.ScopeText(), "canary", ro.Canary)
	r.adminOK(w, req, ro)
}

// CanaryRequest is the body of POST /v1/admin/rollouts/{id}/canary.
type CanaryRequest struct {
	Canary int `json:"canary"`
}

// HaltRequest is the body of POST /v1/admin/rollouts/{id}/halt.
type HaltRequest struct {
	Reason string `json:"reason,omitempty"`
}

// adminChangeRollout serves POST /v1/admin/rollouts/{id}/{halt,resume,canary}.
func (r *Receiver) adminChangeRollout(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	id := req.PathValue("id")
	if !ValidRolloutID(id) {
		r.adminErr(w, req, wire.CodeBadRequest, fmt.Sprintf("rollout %.70q", id))
		return
	}
	now := r.clk.Now()
	var ro Rollout
	var err error
	switch op := req.PathValue("op"); op {
	case "halt":
		var in HaltRequest
		if !r.readAdmin(w, req, &in) {
			return
		}
		if in.Reason == "" {
			in.Reason = "halted by the operator"
		}
		ro, err = HaltRollout(rs, id, truncate(in.Reason, maxReportReason), now)
	case "resume":
		ro, err = ResumeRollout(rs, id, now)
	case "canary":
		var in CanaryRequest
		if !r.readAdmin(w, req, &in) {
			return
		}
		if in.Canary < 1 || in.Canary > 100 {
			r.adminErr(w, req, wire.CodeBadRequest, fmt.Sprintf("canary %d: want a percentage from 1 to 100", in.Canary))
			return
		}
		ro, err = SetRolloutCanary(rs, id, in.Canary, now)
	default:
		r.adminErr(w, req, wire.CodeNotFound, "no such rollout operation: "+op)
		return
	}
	switch {
	case errors.Is(err, ErrNotFound):
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("unknown rollout %q", id))
	case err != nil:
		r.adminErr(w, req, wire.CodeInternal, err.Error())
	default:
		r.forgetIndex()
		r.log.Info("rollout changed", "rollout", ro.ID, "state", ro.State, "canary", ro.Canary)
		r.adminOK(w, req, ro)
	}
}

// adminRollouts lists the rollouts, newest first, each with its gateways.
func (r *Receiver) adminRollouts(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	ros, err := rs.Rollouts()
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list rollouts: "+err.Error())
		return
	}
	out := []RolloutStatus{}
	for _, ro := range newestFirst(ros) {
		st, err := StatusOf(r.store, rs, ro)
		if err != nil {
			r.adminErr(w, req, wire.CodeInternal, "rollout status: "+err.Error())
			return
		}
		out = append(out, st)
	}
	r.adminOK(w, req, map[string]any{"rollouts": out})
}

func (r *Receiver) adminRollout(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	id := req.PathValue("id")
	ro, err := rs.Rollout(id)
	if errors.Is(err, ErrNotFound) || !ValidRolloutID(id) {
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("unknown rollout %.70q", id))
		return
	} else if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	st, err := StatusOf(r.store, rs, ro)
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "rollout status: "+err.Error())
		return
	}
	r.adminOK(w, req, st)
}

// adminUpdateReports lists a gateway's update reports, oldest first.
func (r *Receiver) adminUpdateReports(w http.ResponseWriter, req *http.Request) {
	rs := r.adminReleaseStore(w, req)
	if rs == nil {
		return
	}
	gw := req.URL.Query().Get("gateway")
	if !r.knownGateway(w, req, gw) {
		return
	}
	reps, err := rs.UpdateReports(gw)
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, err.Error())
		return
	}
	if reps == nil {
		reps = []StoredReport{}
	}
	r.adminOK(w, req, map[string]any{"reports": reps})
}
