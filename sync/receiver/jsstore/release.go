package jsstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// Releases in JetStream, shared by every receiver: the artifacts in the
// object store EDGEGW_ARTIFACTS as objects of 1 MiB ("<sha256>/<blob>/<i>",
// blob new for every push, so a push that fails its hash check never
// touches a stored artifact), so that a range is one or two object reads;
// releases, rollouts and update reports in KV buckets (the reports'
// bucket keeps the last receiver.MaxReportsPerGateway of each gateway as
// the key's history).
const (
	BucketReleases = "EDGEGW_RELEASES"
	BucketRollouts = "EDGEGW_ROLLOUTS"
	BucketReports  = "EDGEGW_UPDATE_REPORTS"
	ObjectArtifact = "EDGEGW_ARTIFACTS"

	artifactChunk = wire.MaxArtifactChunk
)

var _ receiver.ReleaseStorage = (*Store)(nil)

// relRecord is a release as the releases bucket keeps it.
type relRecord struct {
	receiver.Release
	Blob string `json:"blob"` // the push's objects: <sha256>/<blob>/<i>
}

func chunkName(sha, blob string, i int64) string {
	return sha + "/" + blob + "/" + strconv.FormatInt(i, 10)
}

// relHandles are the buckets and the object store of releases. They are
// made by the first write (a push, a rollout, a report), not by Open: a
// central that never rolls out a release keeps no raft groups for them.
type relHandles struct {
	relKV, roKV, repKV jetstream.KeyValue
	arts               jetstream.ObjectStore
}

// releases returns the release buckets; nil (and no error) when they do
// not exist and create is false: no release was ever pushed.
func (s *Store) releases(ctx context.Context, create bool) (*relHandles, error) {
	s.relMu.Lock()
	defer s.relMu.Unlock()
	if s.rel != nil {
		return s.rel, nil
	}
	h := &relHandles{}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
		hist uint8
	}{{&h.relKV, BucketReleases, 1}, {&h.roKV, BucketRollouts, 1}, {&h.repKV, BucketReports, receiver.MaxReportsPerGateway}} {
		kv, err := s.js.KeyValue(ctx, b.name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			if !create {
				return nil, nil
			}
			mctx, cancel := s.createCtx(ctx)
			kv, err = s.js.CreateOrUpdateKeyValue(mctx, jetstream.KeyValueConfig{Bucket: b.name, History: b.hist,
				Storage: jetstream.FileStorage, Replicas: s.o.Replicas})
			cancel()
		}
		if err != nil {
			return nil, wrapOp(0, fmt.Errorf("bucket %s: %w", b.name, err))
		}
		*b.kv = kv
	}
	arts, err := s.js.ObjectStore(ctx, ObjectArtifact)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, nil
		}
		mctx, cancel := s.createCtx(ctx)
		arts, err = s.js.CreateOrUpdateObjectStore(mctx, jetstream.ObjectStoreConfig{Bucket: ObjectArtifact,
			Description: "edgegw release artifacts in objects of 1 MiB (docs/releases-central.md)",
			Storage:     jetstream.FileStorage, Replicas: s.o.Replicas})
		cancel()
	}
	if err != nil {
		return nil, wrapOp(0, fmt.Errorf("object store %s: %w", ObjectArtifact, err))
	}
	h.arts = arts
	s.rel = h
	return h, nil
}

// longCtx bounds one object operation of a release.
func (s *Store) longCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, 30*time.Second)
}

// PutRelease implements receiver.ReleaseStorage: the artifact goes to new
// objects, 1 MiB at a time; the release record is written once all of it
// is stored, then the objects of an earlier push of the same artifact are
// deleted.
func (s *Store) PutRelease(rel receiver.Release, artifact io.Reader) error {
	hctx, hcancel := s.longCtx()
	h, err := s.releases(hctx, true)
	hcancel()
	if err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	blob := hex.EncodeToString(rnd[:])
	buf := make([]byte, artifactChunk)
	var n int64
	for i := int64(0); ; i++ {
		k, err := io.ReadFull(artifact, buf)
		if k > 0 {
			ctx, cancel := s.longCtx()
			_, perr := h.arts.PutBytes(ctx, chunkName(rel.SHA256, blob, i), buf[:k])
			cancel()
			if perr != nil {
				s.deleteBlob(h, rel.SHA256, blob, n)
				return wrapOp(0, fmt.Errorf("release %s artifact: %w", rel.Version, perr))
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			s.deleteBlob(h, rel.SHA256, blob, n)
			return err
		}
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	old, _ := s.releaseRecord(ctx, h, rel.SHA256)
	v, err := json.Marshal(relRecord{Release: rel, Blob: blob})
	if err != nil {
		return err
	}
	if _, err := h.relKV.Put(ctx, rel.SHA256, v); err != nil {
		s.deleteBlob(h, rel.SHA256, blob, n)
		return wrapOp(0, fmt.Errorf("release %s: %w", rel.Version, err))
	}
	if old.Blob != "" && old.Blob != blob {
		s.deleteBlob(h, rel.SHA256, old.Blob, old.Size)
	}
	return nil
}

// deleteBlob deletes the objects of n bytes of a push (best effort).
func (s *Store) deleteBlob(h *relHandles, sha, blob string, n int64) {
	for i := int64(0); i*artifactChunk < n; i++ {
		ctx, cancel := s.opCtx()
		if err := h.arts.Delete(ctx, chunkName(sha, blob, i)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			s.log.Warn("delete release object", "sha256", sha, "object", i, "error", err)
		}
		cancel()
	}
}

func (s *Store) releaseRecord(ctx context.Context, h *relHandles, sha string) (relRecord, error) {
	var rec relRecord
	if h == nil {
		return rec, fmt.Errorf("release %s: %w", sha, receiver.ErrNotFound)
	}
	e, err := h.relKV.Get(ctx, sha)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return rec, fmt.Errorf("release %s: %w", sha, receiver.ErrNotFound)
	}
	if err != nil {
		return rec, wrapOp(0, err)
	}
	return rec, json.Unmarshal(e.Value(), &rec)
}

// Release implements receiver.ReleaseStorage.
func (s *Store) Release(sha string) (receiver.Release, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	h, err := s.releases(ctx, false)
	if err != nil {
		return receiver.Release{}, err
	}
	rec, err := s.releaseRecord(ctx, h, sha)
	return rec.Release, err
}

// Releases implements receiver.ReleaseStorage.
func (s *Store) Releases() ([]receiver.Release, error) {
	recs, err := allRecords[relRecord](s, "release", func(h *relHandles) jetstream.KeyValue { return h.relKV })
	if err != nil || recs == nil {
		return nil, err
	}
	out := make([]receiver.Release, len(recs))
	for i, r := range recs {
		out[i] = r.Release
	}
	receiver.SortReleases(out)
	return out, nil
}

// allRecords decodes every value of one release bucket (none when the
// buckets were never made).
func allRecords[T any](s *Store, what string, bucket func(*relHandles) jetstream.KeyValue) ([]T, error) {
	ctx, cancel := s.longCtx()
	defer cancel()
	h, err := s.releases(ctx, false)
	if h == nil {
		return nil, err
	}
	vals, err := allValues(ctx, bucket(h), "")
	if err != nil {
		return nil, wrapOp(0, err)
	}
	out := make([]T, 0, len(vals))
	for k, v := range vals {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, k, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// ReadArtifact implements receiver.ReleaseStorage: the one or two
// objects the range lies in.
func (s *Store) ReadArtifact(sha string, off int64, p []byte) error {
	ctx, cancel := s.longCtx()
	defer cancel()
	h, err := s.releases(ctx, false)
	if err != nil {
		return err
	}
	rec, err := s.releaseRecord(ctx, h, sha)
	if err != nil {
		return err
	}
	if off < 0 || off+int64(len(p)) > rec.Size {
		return fmt.Errorf("release %s: range %d+%d outside its %d bytes", sha, off, len(p), rec.Size)
	}
	for len(p) > 0 {
		i, within := off/artifactChunk, off%artifactChunk
		obj, err := h.arts.Get(ctx, chunkName(sha, rec.Blob, i))
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("release %s: object %d: %w", sha, i, receiver.ErrNotFound)
		} else if err != nil {
			return wrapOp(0, fmt.Errorf("release %s: object %d: %w", sha, i, err))
		}
		k := min(int64(len(p)), artifactChunk-within)
		_, err = io.CopyN(io.Discard, obj, within)
		if err == nil {
			_, err = io.ReadFull(obj, p[:k])
		}
		obj.Close()
		if err != nil {
			return wrapOp(0, fmt.Errorf("release %s: object %d: %w", sha, i, err))
		}
		p, off = p[k:], off+k
	}
	return nil
}

// CreateRollout implements receiver.ReleaseStorage.
func (s *Store) CreateRollout(ro receiver.Rollout) error {
	v, err := json.Marshal(ro)
	if err != nil {
		return err
	}
	ctx, cancel := s.longCtx()
	defer cancel()
	h, err := s.releases(ctx, true)
	if err != nil {
		return err
	}
	_, err = h.roKV.Create(ctx, GatewayToken(ro.ID), v)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("rollout %s: %w", ro.ID, receiver.ErrExists)
	}
	return wrapOp(0, err)
}

// UpdateRollout implements receiver.ReleaseStorage: a compare-and-set,
// again when another receiver changed the rollout in between.
func (s *Store) UpdateRollout(id string, update func(ro *receiver.Rollout) error) (receiver.Rollout, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	h, err := s.releases(ctx, false)
	if h == nil {
		if err == nil {
			err = fmt.Errorf("rollout %s: %w", id, receiver.ErrNotFound)
		}
		return receiver.Rollout{}, err
	}
	tok := GatewayToken(id)
	for {
		e, err := h.roKV.Get(ctx, tok)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return receiver.Rollout{}, fmt.Errorf("rollout %s: %w", id, receiver.ErrNotFound)
		} else if err != nil {
			return receiver.Rollout{}, wrapOp(0, err)
		}
		var ro receiver.Rollout
		if err := json.Unmarshal(e.Value(), &ro); err != nil {
			return ro, fmt.Errorf("rollout %s: %w", id, err)
		}
		if err := update(&ro); err != nil {
			return ro, err
		}
		ro.ID = id
		v, err := json.Marshal(ro)
		if err != nil {
			return ro, err
		}
		_, err = h.roKV.Update(ctx, tok, v, e.Revision())
		var ae *jetstream.APIError
		if errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && ctx.Err() == nil {
			continue
		}
		return ro, wrapOp(0, err)
	}
}

// Rollout implements receiver.ReleaseStorage.
func (s *Store) Rollout(id string) (receiver.Rollout, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	var ro receiver.Rollout
	h, err := s.releases(ctx, false)
	if h == nil {
		if err == nil {
			err = fmt.Errorf("rollout %s: %w", id, receiver.ErrNotFound)
		}
		return ro, err
	}
	e, err := h.roKV.Get(ctx, GatewayToken(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return ro, fmt.Errorf("rollout %s: %w", id, receiver.ErrNotFound)
	} else if err != nil {
		return ro, wrapOp(0, err)
	}
	return ro, json.Unmarshal(e.Value(), &ro)
}

// Rollouts implements receiver.ReleaseStorage.
func (s *Store) Rollouts() ([]receiver.Rollout, error) {
	ros, err := allRecords[receiver.Rollout](s, "rollout", func(h *relHandles) jetstream.KeyValue { return h.roKV })
	if err != nil {
		return nil, err
	}
	receiver.SortRollouts(ros)
	return ros, nil
}

// AddUpdateReport implements receiver.ReleaseStorage: the bucket keeps
// the last MaxReportsPerGateway values of the gateway's key.
func (s *Store) AddUpdateReport(rep receiver.StoredReport) error {
	v, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	ctx, cancel := s.longCtx()
	defer cancel()
	h, err := s.releases(ctx, true)
	if err != nil {
		return err
	}
	return wrapOp(h.repKV.Put(ctx, GatewayToken(rep.Gateway), v))
}

// UpdateReports implements receiver.ReleaseStorage.
func (s *Store) UpdateReports(gw string) ([]receiver.StoredReport, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	h, err := s.releases(ctx, false)
	if h == nil {
		return nil, err
	}
	hist, err := h.repKV.History(ctx, GatewayToken(gw))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, wrapOp(0, err)
	}
	var out []receiver.StoredReport
	for _, e := range hist {
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		var rep receiver.StoredReport
		if err := json.Unmarshal(e.Value(), &rep); err != nil {
			return nil, fmt.Errorf("update report of %s: %w", gw, err)
		}
		out = append(out, rep)
	}
	return out, nil
}
