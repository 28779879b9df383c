package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/sync/wire"
)

// Updater is the gateway's self-update manager (internal/update): every
// heartbeat carries its status, and every heartbeat answer hands it the
// central's release assignment. Offer must not block.
type Updater interface {
	Status() wire.UpdateStatus
	// Offer is the answer's release; nil: none assigned (a download in
	// progress stops).
	Offer(o *wire.ReleaseOffer)
}

// FetchRelease fetches bytes [off, off+n) of the release artifact sha256
// over the gateway's authenticated channel (PROTOCOL.md §6a): one signed
// 206 answer of at most wire.MaxArtifactChunk bytes. It returns the bytes
// the central sent for that range, which may be fewer than n only at the
// artifact's end; anything else is an error.
func (u *Uplink) FetchRelease(ctx context.Context, sha256 string, off, n int64) ([]byte, error) {
	if !wire.ValidSHA256(sha256) {
		return nil, &Error{Class: ErrInvalid, Msg: fmt.Sprintf("release %.80q: not a sha256", sha256)}
	}
	if off < 0 || n <= 0 || n > wire.MaxArtifactChunk {
		return nil, &Error{Class: ErrInvalid, Msg: fmt.Sprintf("release range at %d of %d bytes (1..%d)", off, n, wire.MaxArtifactChunk)}
	}
	h := http.Header{}
	h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	ex, err := u.get(ctx, wire.ReleasePath(sha256), h, n)
	if err != nil {
		return nil, err
	}
	if ex.Status != http.StatusPartialContent {
		return nil, &Error{Class: ErrTransient, Status: ex.Status, Msg: fmt.Sprintf("release %s: answer %d, want 206", sha256[:12], ex.Status)}
	}
	first, last, err := contentRange(ex.Header.Get("Content-Range"))
	if err != nil || first != off || last < first || last-first+1 != int64(len(ex.Body)) || int64(len(ex.Body)) > n {
		return nil, &Error{Class: ErrTransient, Status: ex.Status, Msg: fmt.Sprintf("release %s: Content-Range %.80q does not match bytes %d+%d (got %d)",
			sha256[:12], ex.Header.Get("Content-Range"), off, n, len(ex.Body))}
	}
	return ex.Body, nil
}

// contentRange parses "bytes a-b/size".
func contentRange(h string) (first, last int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("content range %q", h)
	}
	r, _, ok := strings.Cut(spec, "/")
	a, b, ok2 := strings.Cut(r, "-")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("content range %q", h)
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, err
	}
	return first, last, nil
}

// PostUpdateReport posts an update report (PROTOCOL.md §6a). Its log tail
// is cut from the front so that the body stays within wire.MaxJSONBody.
func (u *Uplink) PostUpdateReport(ctx context.Context, r wire.UpdateReport) error {
	if len(r.LogTail) > wire.MaxLogTail {
		r.LogTail = r.LogTail[len(r.LogTail)-wire.MaxLogTail:]
	}
	var body []byte
	for {
		var err error
		if body, err = json.Marshal(r); err != nil {
			return &Error{Class: ErrInvalid, Msg: "encode update report", Err: err}
		}
		if len(body) <= wire.MaxJSONBody || r.LogTail == "" {
			break
		}
		// Escaped bytes grow in JSON: drop the older half of the tail.
		r.LogTail = r.LogTail[len(r.LogTail)/2:]
	}
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	ex, err := u.c.do(nctx, http.MethodPost, wire.PathReleaseReport, body, h, wire.MaxSmallResponse)
	u.noteResult(ex, err)
	return err
}
