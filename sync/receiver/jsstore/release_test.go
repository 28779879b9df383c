package jsstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/internal/natstest"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

func testRelease(t *testing.T, version string, size int) (artifact, manifest []byte) {
	t.Helper()
	artifact = make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range artifact {
		artifact[i] = byte(rng.Uint32())
	}
	priv, _, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(artifact)
	manifest, err = wire.SignManifest(wire.Manifest{Version: version, OS: "linux", Arch: "arm", GOARM: "7",
		Size: int64(size), SHA256: hex.EncodeToString(sum[:]), StoreSchema: 1, MinStoreSchema: 1,
		Created: time.Now().UTC()}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return artifact, manifest
}

// Two receivers on one JetStream share releases, rollouts and reports: a
// release pushed through one is read in ranges through the other, across
// the 1 MiB objects; a push whose artifact fails its check leaves the
// stored one as it was.
func TestReleaseStorageShared(t *testing.T) {
	_, nc := natstest.Embedded(t)
	a := open(t, nc, Options{})
	b := open(t, nc, Options{})
	const size = 2*artifactChunk + 777
	art, man := testRelease(t, "1.5.0", size)
	sha := hex.EncodeToString(func() []byte { s := sha256.Sum256(art); return s[:] }())
	// Before any push: no release buckets, and empty answers.
	if ros, err := b.Rollouts(); err != nil || len(ros) != 0 {
		t.Fatalf("rollouts before any: %v %v", ros, err)
	}
	if rels, err := b.Releases(); err != nil || len(rels) != 0 {
		t.Fatalf("releases before any: %v %v", rels, err)
	}
	if _, err := b.Rollout("r-1"); !errors.Is(err, receiver.ErrNotFound) {
		t.Fatalf("rollout before any: %v", err)
	}
	if reps, err := b.UpdateReports("gw"); err != nil || len(reps) != 0 {
		t.Fatalf("reports before any: %v %v", reps, err)
	}
	if _, err := b.js.KeyValue(t.Context(), BucketRollouts); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("the rollouts bucket exists before any release: %v", err)
	}
	bad := bytes.Clone(art)
	bad[5] ^= 1
	if _, err := receiver.PushRelease(a, man, bytes.NewReader(bad), nil, time.Now()); !errors.Is(err, wire.ErrHash) {
		t.Fatalf("push of a changed artifact: %v", err)
	}
	if _, err := b.Release(sha); !errors.Is(err, receiver.ErrNotFound) {
		t.Fatalf("a refused release is stored: %v", err)
	}
	rel, err := receiver.PushRelease(a, man, bytes.NewReader(art), nil, time.Now())
	if err != nil || rel.Platform != "linux/arm/7" {
		t.Fatalf("push: %+v %v", rel, err)
	}
	// A failed push of the same artifact does not touch the stored one.
	if _, err := receiver.PushRelease(a, man, bytes.NewReader(bad), nil, time.Now()); !errors.Is(err, wire.ErrHash) {
		t.Fatalf("second push of a changed artifact: %v", err)
	}
	for _, r := range [][2]int64{{0, 10}, {artifactChunk - 5, 10}, {artifactChunk - 100, artifactChunk}, {2 * artifactChunk, 777}, {700000, artifactChunk}} {
		p := make([]byte, r[1])
		if err := b.ReadArtifact(sha, r[0], p); err != nil {
			t.Fatalf("read %v: %v", r, err)
		}
		if !bytes.Equal(p, art[r[0]:r[0]+r[1]]) {
			t.Fatalf("read %v: not the artifact's bytes", r)
		}
	}
	if err := b.ReadArtifact(sha, size-5, make([]byte, 10)); err == nil {
		t.Error("read past the end")
	}
	if err := b.ReadArtifact(hex.EncodeToString(make([]byte, 32)), 0, make([]byte, 1)); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("unknown artifact: %v", err)
	}
	rels, err := b.Releases()
	if err != nil || len(rels) != 1 || rels[0].SHA256 != sha || len(rels[0].Manifest) == 0 {
		t.Fatalf("releases: %+v %v", rels, err)
	}
	// A second push of the same artifact replaces the first's objects.
	if _, err := receiver.PushRelease(b, man, bytes.NewReader(art), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, size)
	for off := 0; off < size; off += artifactChunk {
		if err := a.ReadArtifact(sha, int64(off), p[off:min(size, off+artifactChunk)]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(p, art) {
		t.Fatal("after the second push: not the artifact")
	}
	if st, err := a.rel.arts.Status(t.Context()); err != nil || st.Size() > 2*size+64<<10 {
		t.Errorf("object store after two pushes: %v bytes, %v", st.Size(), err)
	}

	// Rollouts: created once, updated by both.
	if _, err := receiver.AddPlacedGateway(a, "gw.a_1", "putuo/caoyang/c012/cp07", time.Now()); err != nil {
		t.Fatal(err)
	}
	ro, err := receiver.CreateRollout(a, a, receiver.RolloutRequest{Version: "1.5.0", Place: "putuo/caoyang", Canary: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateRollout(ro); !errors.Is(err, receiver.ErrExists) {
		t.Errorf("second create: %v", err)
	}
	if _, err := receiver.SetRolloutCanary(b, ro.ID, 100, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.HaltRollout(a, ro.ID, "rolled_back on gateway gw.a_1: boom", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := b.Rollout(ro.ID)
	if err != nil || got.Canary != 100 || got.State != receiver.RolloutHalted {
		t.Fatalf("rollout: %+v %v", got, err)
	}
	if ros, err := a.Rollouts(); err != nil || len(ros) != 1 {
		t.Fatalf("rollouts: %+v %v", ros, err)
	}
	if _, err := b.UpdateRollout("r-nope", func(*receiver.Rollout) error { return nil }); !errors.Is(err, receiver.ErrNotFound) {
		t.Errorf("update of an unknown rollout: %v", err)
	}
	// Reports: the last 20 of each gateway.
	for i := range 23 {
		s := []*Store{a, b}[i%2]
		if err := s.AddUpdateReport(receiver.StoredReport{Gateway: "gw.a_1", Received: time.Now(),
			UpdateReport: wire.UpdateReport{Outcome: wire.UpdateFailed, Reason: fmt.Sprint("r", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	reps, err := b.UpdateReports("gw.a_1")
	if err != nil || len(reps) != receiver.MaxReportsPerGateway || reps[0].Reason != "r3" || reps[19].Reason != "r22" {
		t.Fatalf("reports: %d %v", len(reps), err)
	}
	if reps, err := b.UpdateReports("other"); err != nil || len(reps) != 0 {
		t.Fatalf("reports of a gateway without any: %v %v", reps, err)
	}
}
