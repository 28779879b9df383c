package receiver

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Releases on the central (PROTOCOL.md §6a): an operator pushes a signed
// release (manifest and artifact), starts a rollout of its version to a
// gateway or a place, and every heartbeat of a gateway the rollout covers
// is answered with an offer of the release for its platform. Gateways
// download the artifact in ranges and report failures; a failure halts
// the rollout.

// Rollout states.
const (
	RolloutActive = "active"
	RolloutHalted = "halted"
)

// MaxReportsPerGateway is how many update reports the central keeps of
// one gateway (the newest).
const MaxReportsPerGateway = 20

// Release is a release the central stores: its manifest as pushed and
// what the manifest says of the artifact.
type Release struct {
	SHA256   string    `json:"sha256"`
	Version  string    `json:"version"`
	Platform string    `json:"platform"`
	Size     int64     `json:"size"`
	Serial   int64     `json:"serial,omitempty"`
	Pushed   time.Time `json:"pushed"`
	// Manifest is the manifest file (the signed envelope) as pushed; a
	// list leaves it out.
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// Rollout assigns a version to the gateways of its scope: one gateway,
// a place prefix (district/street/committee/compound) or all, and of
// those the canary percentage (InCanary).
type Rollout struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// Exactly one of Gateway, Place and All is set.
	Gateway        string    `json:"gateway,omitempty"`
	Place          string    `json:"place,omitempty"`
	All            bool      `json:"all,omitempty"`
	Canary         int       `json:"canary"` // 1..100
	AllowDowngrade bool      `json:"allow_downgrade,omitempty"`
	State          string    `json:"state"` // RolloutActive, RolloutHalted
	Reason         string    `json:"reason,omitempty"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

// ScopeText is the rollout's scope as the CLI shows it.
func (ro Rollout) ScopeText() string {
	switch {
	case ro.Gateway != "":
		return "gateway " + ro.Gateway
	case ro.All:
		return "all gateways"
	default:
		return "place " + ro.Place
	}
}

// StoredReport is an update report as the central keeps it.
type StoredReport struct {
	Gateway  string    `json:"gateway"`
	Received time.Time `json:"received"`
	wire.UpdateReport
}

// ReleaseStorage is implemented by stores that keep releases, rollouts
// and update reports (both stores of this module do); the receiver finds
// it by type assertion. Every method is safe for concurrent use.
type ReleaseStorage interface {
	// PutRelease stores rel and its artifact, read from artifact to
	// io.EOF; the release is visible only once all of it is stored, and
	// nothing of it when artifact returns an error (PushRelease's reader
	// returns one when the bytes do not match rel's size and sha256). It
	// never holds the whole artifact in memory.
	PutRelease(rel Release, artifact io.Reader) error
	// Release returns the release of artifact sha (ErrNotFound).
	Release(sha string) (Release, error)
	// Releases returns every release, oldest first, with its manifest.
	Releases() ([]Release, error)
	// ReadArtifact fills p with the bytes of artifact sha from off
	// (ErrNotFound); off+len(p) is within its size.
	ReadArtifact(sha string, off int64, p []byte) error

	// CreateRollout stores a new rollout (ErrExists when its id is taken).
	CreateRollout(ro Rollout) error
	// UpdateRollout changes rollout id with update, atomic against other
	// updates (update may run more than once) (ErrNotFound).
	UpdateRollout(id string, update func(ro *Rollout) error) (Rollout, error)
	// Rollout returns one rollout (ErrNotFound).
	Rollout(id string) (Rollout, error)
	// Rollouts returns every rollout, oldest first.
	Rollouts() ([]Rollout, error)

	// AddUpdateReport records a report of gateway, keeping its newest
	// MaxReportsPerGateway.
	AddUpdateReport(rep StoredReport) error
	// UpdateReports returns the reports of gateway kept, oldest first.
	UpdateReports(gateway string) ([]StoredReport, error)
}

// ErrNoReleases is returned for a store without ReleaseStorage.
var ErrNoReleases = errors.New("this store keeps no releases")

// ErrBadRelease wraps every reason a pushed release is refused.
var ErrBadRelease = errors.New("bad release")

// verifyReader passes the artifact through, counting and hashing it, and
// returns an error instead of io.EOF when its size or sha256 is not the
// manifest's (or as soon as it runs past the size).
type verifyReader struct {
	r    io.Reader
	size int64
	sha  string
	n    int64
	h    hash.Hash
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.n > v.size {
		return n, fmt.Errorf("%w: %w: artifact longer than the manifest's %d bytes", ErrBadRelease, wire.ErrSize, v.size)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("%w: %w: artifact %d bytes, manifest %d", ErrBadRelease, wire.ErrSize, v.n, v.size)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sha {
			return n, fmt.Errorf("%w: %w: artifact %s, manifest %s", ErrBadRelease, wire.ErrHash, got, v.sha)
		}
	}
	return n, err
}

// PushRelease checks a manifest file (a valid envelope whose payload is a
// valid manifest; with trusted keys, signed by one of them) and stores it
// with its artifact, streamed from artifact and checked against the
// manifest's size and sha256 as it is stored. A second push of the same
// artifact replaces its manifest; another artifact for a version and
// platform already stored is refused (ErrExists).
func PushRelease(s ReleaseStorage, manifest []byte, artifact io.Reader, trusted []wire.ReleasePublicKey, now time.Time) (Release, error) {
	if _, err := wire.ParseEnvelope(manifest); err != nil {
		return Release{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	var m wire.Manifest
	var err error
	if len(trusted) > 0 {
		m, err = wire.VerifyManifest(manifest, trusted)
	} else {
		m, err = wire.ManifestUnverified(manifest)
	}
	if err != nil {
		return Release{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	rel := Release{SHA256: m.SHA256, Version: m.Version, Platform: m.Platform(), Size: m.Size, Serial: m.Serial,
		Pushed: now.UTC(), Manifest: json.RawMessage(compactJSON(manifest))}
	all, err := s.Releases()
	if err != nil {
		return Release{}, err
	}
	for _, o := range all {
		if o.Version == rel.Version && o.Platform == rel.Platform && o.SHA256 != rel.SHA256 {
			return Release{}, fmt.Errorf("release %s for %s: %w with another artifact (sha256 %s)", rel.Version, rel.Platform, ErrExists, o.SHA256)
		}
	}
	vr := &verifyReader{r: artifact, size: m.Size, sha: m.SHA256, h: sha256.New()}
	if err := s.PutRelease(rel, vr); err != nil {
		return Release{}, err
	}
	return rel, nil
}

// compactJSON is b without insignificant space (b is a valid envelope).
func compactJSON(b []byte) []byte {
	var env wire.Envelope
	if json.Unmarshal(b, &env) != nil {
		return b
	}
	out, err := json.Marshal(env)
	if err != nil {
		return b
	}
	return out
}

// InCanary reports whether gateway gw is in the first pct percent of
// rollout id's gateways: sha256(id, gw) mod 100 < pct. The same gateway
// stays in when pct grows.
func InCanary(id, gw string, pct int) bool {
	if pct >= 100 {
		return true
	}
	s := sha256.Sum256([]byte(id + "\x00" + gw))
	return int(binary.BigEndian.Uint64(s[:8])%100) < pct
}

// InScope reports whether gateway g is in the rollout's scope, before
// the canary.
func (ro Rollout) InScope(g Gateway) bool {
	switch {
	case ro.Gateway != "":
		return g.ID == ro.Gateway
	case ro.All:
		return true
	default:
		parts, err := ParsePlace(ro.Place)
		if err != nil || len(parts) == 0 || g.Place == "" {
			return false
		}
		return Scope{Place: parts}.Match(g.Place)
	}
}

// Covers reports whether the rollout assigns its version to gateway g:
// in its scope and its canary. A halted rollout covers no one.
func (ro Rollout) Covers(g Gateway) bool {
	return ro.State == RolloutActive && ro.InScope(g) && InCanary(ro.ID, g.ID, ro.Canary)
}

// newestFirst sorts rollouts newest first.
func newestFirst(ros []Rollout) []Rollout {
	out := slices.Clone(ros)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// Assignment is what the rollouts say of one gateway.
type Assignment struct {
	Rollout *Rollout // the newest active rollout covering it; nil: none
	Release *Release // the release of its version for the gateway's platform
	// Note says why there is no offer: "no release for linux/arm/7",
	// "running" (it runs the version), "broken" (it lists the version as
	// broken), "no update status" (the gateway does not report one).
	Note string
}

// Offer is the heartbeat's offer of the assignment, nil for none.
func (a Assignment) Offer() *wire.ReleaseOffer {
	if a.Rollout == nil || a.Release == nil || a.Note != "" {
		return nil
	}
	return &wire.ReleaseOffer{Rollout: a.Rollout.ID, Version: a.Release.Version, Manifest: a.Release.Manifest,
		SHA256: a.Release.SHA256, Size: a.Release.Size, AllowDowngrade: a.Rollout.AllowDowngrade}
}

// Assign finds the newest active rollout among ros that covers g and the
// release of its version for the platform of st (nil: the gateway sent
// no update status).
func Assign(g Gateway, st *wire.UpdateStatus, ros []Rollout, rels []Release) Assignment {
	var a Assignment
	for _, ro := range newestFirst(ros) {
		if ro.Covers(g) {
			a.Rollout = &ro
			break
		}
	}
	if a.Rollout == nil {
		return a
	}
	if st == nil {
		a.Note = "no update status"
		return a
	}
	a.Release = FindRelease(rels, a.Rollout.Version, st.Platform)
	switch {
	case a.Release == nil:
		a.Note = "no release for " + orUnknown(st.Platform)
	case st.Running == a.Rollout.Version:
		a.Note = "running"
	case slices.Contains(st.Broken, a.Rollout.Version):
		a.Note = "broken"
	}
	return a
}

// FindRelease returns the release of version for platform among rels
// (Releases' answer), nil if there is none.
func FindRelease(rels []Release, version, platform string) *Release {
	for i := range rels {
		if rels[i].Version == version && rels[i].Platform == platform {
			return &rels[i]
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown platform"
	}
	return s
}

// RolloutRequest is the body of POST /v1/admin/rollouts.
type RolloutRequest struct {
	Version        string `json:"version"`
	Gateway        string `json:"gateway,omitempty"`
	Place          string `json:"place,omitempty"`
	All            bool   `json:"all,omitempty"`
	Canary         int    `json:"canary,omitempty"` // default 100
	AllowDowngrade bool   `json:"allow_downgrade,omitempty"`
}

// CreateRollout checks req and stores a new active rollout, with id
// "r-<unix seconds>" (a suffix when that is taken).
func CreateRollout(s Storage, rs ReleaseStorage, req RolloutRequest, now time.Time) (Rollout, error) {
	if req.Canary == 0 {
		req.Canary = 100
	}
	n := 0
	for _, set := range []bool{req.Gateway != "", req.Place != "", req.All} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return Rollout{}, errors.New("give exactly one scope: a gateway, a place or all")
	case req.Canary < 1 || req.Canary > 100:
		return Rollout{}, fmt.Errorf("canary %d: want a percentage from 1 to 100", req.Canary)
	}
	ro := Rollout{Version: req.Version, Gateway: req.Gateway, All: req.All, Canary: req.Canary,
		AllowDowngrade: req.AllowDowngrade, State: RolloutActive, Created: now.UTC(), Updated: now.UTC()}
	if req.Place != "" {
		parts, err := ParsePlace(req.Place)
		if err != nil || len(parts) == 0 {
			return Rollout{}, fmt.Errorf("place %q: want district/street/committee/compound codes (a prefix): %v", req.Place, err)
		}
		ro.Place = strings.Join(parts, "/")
	}
	if ro.Gateway != "" {
		if _, err := s.Gateway(ro.Gateway); err != nil {
			return Rollout{}, fmt.Errorf("gateway %q: %w", ro.Gateway, err)
		}
	}
	rels, err := rs.Releases()
	if err != nil {
		return Rollout{}, err
	}
	found := false
	for _, r := range rels {
		found = found || r.Version == ro.Version
	}
	if !found {
		return Rollout{}, fmt.Errorf("version %q: %w: push a release of it first (edgecentral release push)", ro.Version, ErrNotFound)
	}
	base := fmt.Sprintf("r-%d", now.Unix())
	for i := 1; i <= 100; i++ {
		ro.ID = base
		if i > 1 {
			ro.ID = fmt.Sprintf("%s-%d", base, i)
		}
		err = rs.CreateRollout(ro)
		if !errors.Is(err, ErrExists) {
			break
		}
	}
	if err != nil {
		return Rollout{}, err
	}
	return ro, nil
}

// ValidRolloutID reports whether id may name a rollout.
func ValidRolloutID(id string) bool {
	return ValidGatewayID(id)
}

// HaltRollout halts rollout id with reason (a halted one keeps its first
// reason).
func HaltRollout(rs ReleaseStorage, id, reason string, now time.Time) (Rollout, error) {
	return rs.UpdateRollout(id, func(ro *Rollout) error {
		if ro.State != RolloutHalted {
			ro.State, ro.Reason, ro.Updated = RolloutHalted, reason, now.UTC()
		}
		return nil
	})
}

// ResumeRollout makes a halted rollout active again.
func ResumeRollout(rs ReleaseStorage, id string, now time.Time) (Rollout, error) {
	return rs.UpdateRollout(id, func(ro *Rollout) error {
		ro.State, ro.Reason, ro.Updated = RolloutActive, "", now.UTC()
		return nil
	})
}

// SetRolloutCanary changes the canary percentage of rollout id: the
// gateways in the old one stay in when it grows.
func SetRolloutCanary(rs ReleaseStorage, id string, pct int, now time.Time) (Rollout, error) {
	if pct < 1 || pct > 100 {
		return Rollout{}, fmt.Errorf("canary %d: want a percentage from 1 to 100", pct)
	}
	return rs.UpdateRollout(id, func(ro *Rollout) error {
		ro.Canary, ro.Updated = pct, now.UTC()
		return nil
	})
}

// RolloutGateway is one gateway in a rollout's status.
type RolloutGateway struct {
	ID       string `json:"id"`
	Platform string `json:"platform,omitempty"`
	Running  string `json:"running,omitempty"`
	State    string `json:"state,omitempty"`  // its update state
	Target   string `json:"target,omitempty"` // the version it downloads / tries
	Error    string `json:"error,omitempty"`
	// Assigned: this rollout is the one that assigns the gateway its
	// version (a newer one may cover it instead: Note says which).
	Assigned bool      `json:"assigned"`
	Note     string    `json:"note,omitempty"`
	Outcome  string    `json:"outcome,omitempty"` // of its last report for this rollout
	Reason   string    `json:"reason,omitempty"`
	Reported time.Time `json:"reported,omitzero"`
}

// RolloutStatus is a rollout with the gateways it covers.
type RolloutStatus struct {
	Rollout
	Gateways []RolloutGateway `json:"gateways"`
	// Missing lists the platforms of covered gateways the version has no
	// release for ("no release for linux/arm/7").
	Missing []string `json:"missing,omitempty"`
}

// StatusOf reports on rollout ro: each gateway in its scope and canary,
// with its update status and its last report for the rollout.
func StatusOf(s Storage, rs ReleaseStorage, ro Rollout) (RolloutStatus, error) {
	st := RolloutStatus{Rollout: ro, Gateways: []RolloutGateway{}}
	gws, err := s.Gateways()
	if err != nil {
		return st, err
	}
	ros, err := rs.Rollouts()
	if err != nil {
		return st, err
	}
	rels, err := rs.Releases()
	if err != nil {
		return st, err
	}
	// As if active: a halted rollout still shows whom it covered.
	asActive := ro
	asActive.State = RolloutActive
	for _, gs := range gws {
		g := Gateway{ID: gs.ID, Place: gs.Place}
		if !asActive.InScope(g) || !InCanary(ro.ID, g.ID, ro.Canary) {
			continue
		}
		var us *wire.UpdateStatus
		if gs.LastHeartbeat != nil {
			us = gs.LastHeartbeat.Update
		}
		rg := RolloutGateway{ID: g.ID}
		if us != nil {
			rg.Platform, rg.Running, rg.State, rg.Target, rg.Error = us.Platform, us.Running, us.State, us.Target, us.Error
		}
		a := Assign(g, us, ros, rels)
		switch {
		case ro.State != RolloutActive:
			rg.Note = "halted"
			if us != nil && us.Running == ro.Version {
				rg.Note = "running"
			}
		case a.Rollout == nil || a.Rollout.ID != ro.ID:
			if a.Rollout != nil {
				rg.Note = "superseded by " + a.Rollout.ID
			}
		default:
			rg.Assigned = true
			rg.Note = a.Note
			if rg.Note == "" {
				rg.Note = "offered"
			}
		}
		if strings.HasPrefix(rg.Note, "no release for ") && !slices.Contains(st.Missing, us.Platform) {
			st.Missing = append(st.Missing, us.Platform)
		}
		reps, err := rs.UpdateReports(g.ID)
		if err != nil {
			return st, err
		}
		for i := len(reps) - 1; i >= 0; i-- {
			if reps[i].Rollout == ro.ID {
				rg.Outcome, rg.Reason, rg.Reported = reps[i].Outcome, reps[i].Reason, reps[i].Received
				break
			}
		}
		st.Gateways = append(st.Gateways, rg)
	}
	sort.Strings(st.Missing)
	return st, nil
}
