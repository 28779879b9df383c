package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Releases (PROTOCOL.md §6a). A release is an artifact (the edgegw binary
// for one platform) and a manifest: a JSON payload signed with ed25519 by
// one or more offline release keys. The signed message is ReleaseFormat,
// a newline and the payload's exact bytes, so nobody re-encodes JSON
// between signing and verifying.

// ReleaseFormat names the manifest payload format and separates its
// signatures from any other use of the same key.
const ReleaseFormat = "edgegw-release-v1"

// ReleaseProduct is the product every manifest must name.
const ReleaseProduct = "edgegw"

// Size limits of releases.
const (
	// MaxManifest is the largest manifest envelope.
	MaxManifest = 16 << 10
	// MaxArtifactChunk is the largest range one GET /v1/releases/{sha256}
	// answers.
	MaxArtifactChunk = 1 << 20
	// MaxArtifact is the largest artifact a central stores.
	MaxArtifact = 512 << 20
	// MaxLogTail is the largest log tail an update report carries.
	MaxLogTail = 48 << 10
	// MaxSignatures is the most signatures one manifest may carry.
	MaxSignatures = 8
)

// Errors of release verification. Every failure wraps exactly one.
var (
	ErrBadManifest = errors.New("malformed manifest")
	ErrReleaseSig  = errors.New("bad release signature")
	ErrUnknownKey  = errors.New("unknown key")
	ErrHash        = errors.New("hash mismatch")
	ErrSize        = errors.New("size mismatch")
	ErrPlatform    = errors.New("wrong platform")
)

// keyIDLen is the length of a key id in bytes (hex: twice that).
const keyIDLen = 8

// ReleaseKeyID is the id of a public key: hex of the first 8 bytes of its
// sha256.
func ReleaseKeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:keyIDLen])
}

// ReleasePublicKey is a trusted key, written "ed25519:<keyid>:<base64>".
type ReleasePublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// ReleasePrivateKey is a signing key, written
// "edgegw-release-key:<keyid>:<base64 of the 32-byte seed>".
type ReleasePrivateKey struct {
	ID  string
	Key ed25519.PrivateKey
}

// GenerateReleaseKey makes a new key pair.
func GenerateReleaseKey() (ReleasePrivateKey, ReleasePublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return ReleasePrivateKey{}, ReleasePublicKey{}, fmt.Errorf("generate release key: %w", err)
	}
	id := ReleaseKeyID(pub)
	return ReleasePrivateKey{ID: id, Key: priv}, ReleasePublicKey{ID: id, Key: pub}, nil
}

// String writes the public key as "ed25519:<keyid>:<base64>".
func (k ReleasePublicKey) String() string {
	return "ed25519:" + k.ID + ":" + base64.StdEncoding.EncodeToString(k.Key)
}

// String writes the private key with its seed: keep it secret.
func (k ReleasePrivateKey) String() string {
	return "edgegw-release-key:" + k.ID + ":" + base64.StdEncoding.EncodeToString(k.Key.Seed())
}

// Public is the public half.
func (k ReleasePrivateKey) Public() ReleasePublicKey {
	return ReleasePublicKey{ID: k.ID, Key: k.Key.Public().(ed25519.PublicKey)}
}

func splitKey(s, prefix string, size int) (id string, raw []byte, err error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, prefix+":")
	if !ok {
		return "", nil, fmt.Errorf("want %q", prefix+":<keyid>:<base64>")
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", nil, fmt.Errorf("want %q", prefix+":<keyid>:<base64>")
	}
	raw, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != size {
		return "", nil, fmt.Errorf("key material is not base64 of %d bytes", size)
	}
	return id, raw, nil
}

// ParseReleasePublicKey reads "ed25519:<keyid>:<base64>" and checks that
// the key id belongs to the key.
func ParseReleasePublicKey(s string) (ReleasePublicKey, error) {
	id, raw, err := splitKey(s, "ed25519", ed25519.PublicKeySize)
	if err != nil {
		return ReleasePublicKey{}, fmt.Errorf("release public key: %w", err)
	}
	pub := ed25519.PublicKey(raw)
	if want := ReleaseKeyID(pub); id != want {
		return ReleasePublicKey{}, fmt.Errorf("release public key: key id %q does not match the key (%s)", id, want)
	}
	return ReleasePublicKey{ID: id, Key: pub}, nil
}

// ParseReleasePrivateKey reads "edgegw-release-key:<keyid>:<base64 seed>".
func ParseReleasePrivateKey(s string) (ReleasePrivateKey, error) {
	id, seed, err := splitKey(s, "edgegw-release-key", ed25519.SeedSize)
	if err != nil {
		return ReleasePrivateKey{}, fmt.Errorf("release private key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if want := ReleaseKeyID(priv.Public().(ed25519.PublicKey)); id != want {
		return ReleasePrivateKey{}, fmt.Errorf("release private key: key id %q does not match the key (%s)", id, want)
	}
	return ReleasePrivateKey{ID: id, Key: priv}, nil
}

// Manifest is the signed payload of a release.
type Manifest struct {
	Format  string `json:"format"`  // ReleaseFormat
	Product string `json:"product"` // ReleaseProduct
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	GOARM   string `json:"goarm,omitempty"` // "7" for linux/arm
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"` // hex, lowercase
	// StoreSchema is the local log schema the version writes;
	// MinStoreSchema the oldest it opens.
	StoreSchema    int `json:"store_schema"`
	MinStoreSchema int `json:"min_store_schema"`
	// ConfigSchema is the oldest config schema the version reads (0: not
	// stated); a gateway whose config is older refuses the release.
	ConfigSchema int `json:"config_schema,omitempty"`
	// Serial orders releases; a gateway refuses a serial below its floor.
	Serial  int64     `json:"serial"`
	Created time.Time `json:"created"`
}

// Platform is "os/arch" or "linux/arm/7".
func (m Manifest) Platform() string { return Platform(m.OS, m.Arch, m.GOARM) }

// Platform names a build target as "os/arch", with "/goarm" for arm.
func Platform(goos, goarch, goarm string) string {
	p := goos + "/" + goarch
	if goarch == "arm" && goarm != "" {
		p += "/" + goarm
	}
	return p
}

// Check verifies the fields every manifest must have.
func (m Manifest) Check() error {
	switch {
	case m.Format != ReleaseFormat:
		return fmt.Errorf("%w: format %q, want %q", ErrBadManifest, m.Format, ReleaseFormat)
	case m.Product != ReleaseProduct:
		return fmt.Errorf("%w: product %q, want %q", ErrBadManifest, m.Product, ReleaseProduct)
	case !validVersion(m.Version):
		return fmt.Errorf("%w: version %q (letters, digits, '.', '-', '+', at most 64)", ErrBadManifest, m.Version)
	case m.OS == "" || m.Arch == "":
		return fmt.Errorf("%w: os and arch are required", ErrBadManifest)
	case m.Size <= 0 || m.Size > MaxArtifact:
		return fmt.Errorf("%w: size %d (1..%d)", ErrBadManifest, m.Size, MaxArtifact)
	case !ValidSHA256(m.SHA256):
		return fmt.Errorf("%w: sha256 %q is not 64 lowercase hex digits", ErrBadManifest, m.SHA256)
	case m.StoreSchema < 1 || m.MinStoreSchema < 1 || m.MinStoreSchema > m.StoreSchema:
		return fmt.Errorf("%w: store schema %d, min %d", ErrBadManifest, m.StoreSchema, m.MinStoreSchema)
	}
	return nil
}

func validVersion(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == '_') {
			return false
		}
	}
	return true
}

// ValidSHA256 reports whether s is 64 lowercase hex digits.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ManifestSignature is one signature of an envelope.
type ManifestSignature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"` // base64 in JSON
}

// Envelope is the manifest file: the payload bytes and their signatures.
type Envelope struct {
	Payload    []byte              `json:"payload"` // base64 in JSON
	Signatures []ManifestSignature `json:"signatures"`
}

func signedMessage(payload []byte) []byte {
	msg := make([]byte, 0, len(ReleaseFormat)+1+len(payload))
	msg = append(msg, ReleaseFormat...)
	msg = append(msg, '\n')
	return append(msg, payload...)
}

// SignManifest checks m, encodes it once and signs it with every key. The
// result is the manifest file.
func SignManifest(m Manifest, keys ...ReleasePrivateKey) ([]byte, error) {
	if m.Format == "" {
		m.Format = ReleaseFormat
	}
	if m.Product == "" {
		m.Product = ReleaseProduct
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	if len(keys) == 0 || len(keys) > MaxSignatures {
		return nil, fmt.Errorf("sign manifest: %d keys (1..%d)", len(keys), MaxSignatures)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	env := Envelope{Payload: payload}
	msg := signedMessage(payload)
	for _, k := range keys {
		env.Signatures = append(env.Signatures, ManifestSignature{KeyID: k.ID, Sig: ed25519.Sign(k.Key, msg)})
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseEnvelope decodes a manifest file without checking any signature.
func ParseEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if len(b) > MaxManifest {
		return env, fmt.Errorf("%w: %d bytes, at most %d", ErrBadManifest, len(b), MaxManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&env); err != nil {
		return env, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if dec.More() {
		return env, fmt.Errorf("%w: data after the envelope", ErrBadManifest)
	}
	if len(env.Payload) == 0 {
		return env, fmt.Errorf("%w: no payload", ErrBadManifest)
	}
	if len(env.Signatures) == 0 || len(env.Signatures) > MaxSignatures {
		return env, fmt.Errorf("%w: %d signatures (1..%d)", ErrBadManifest, len(env.Signatures), MaxSignatures)
	}
	return env, nil
}

// ManifestUnverified decodes the payload of a manifest file without
// checking its signatures: for listing only, never for trust.
func ManifestUnverified(b []byte) (Manifest, error) {
	env, err := ParseEnvelope(b)
	if err != nil {
		return Manifest{}, err
	}
	return decodePayload(env.Payload)
}

func decodePayload(p []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(p, &m); err != nil {
		return m, fmt.Errorf("%w: payload: %v", ErrBadManifest, err)
	}
	return m, m.Check()
}

// VerifyManifest checks a manifest file against the trusted keys: at least
// one signature by a trusted key must verify. It returns the payload.
func VerifyManifest(b []byte, trusted []ReleasePublicKey) (Manifest, error) {
	m, _, err := VerifyManifestSigner(b, trusted)
	return m, err
}

// VerifyManifestSigner is VerifyManifest that also returns the id of the
// trusted key whose signature verified.
func VerifyManifestSigner(b []byte, trusted []ReleasePublicKey) (Manifest, string, error) {
	env, err := ParseEnvelope(b)
	if err != nil {
		return Manifest{}, "", err
	}
	msg := signedMessage(env.Payload)
	var seen []string
	known := false
	for _, s := range env.Signatures {
		seen = append(seen, s.KeyID)
		for _, k := range trusted {
			if k.ID != s.KeyID {
				continue
			}
			known = true
			if len(s.Sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, msg, s.Sig) {
				m, err := decodePayload(env.Payload)
				return m, k.ID, err
			}
		}
	}
	if known {
		return Manifest{}, "", fmt.Errorf("%w: no signature by a trusted key verifies", ErrReleaseSig)
	}
	ids := make([]string, 0, len(trusted))
	for _, k := range trusted {
		ids = append(ids, k.ID)
	}
	return Manifest{}, "", fmt.Errorf("%w: signed by %s, trusted: %s", ErrUnknownKey, strings.Join(seen, ","), orNone(strings.Join(ids, ",")))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// CheckPlatform checks that m was built for goos/goarch(/goarm).
func (m Manifest) CheckPlatform(goos, goarch, goarm string) error {
	if m.OS != goos || m.Arch != goarch || (goarch == "arm" && m.GOARM != goarm) {
		return fmt.Errorf("%w: release for %s, this is %s", ErrPlatform, m.Platform(), Platform(goos, goarch, goarm))
	}
	return nil
}

// VerifyArtifact checks the size and sha256 of the file at path against m,
// reading it as a stream.
func (m Manifest) VerifyArtifact(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	if st.Size() != m.Size {
		return fmt.Errorf("%w: artifact %d bytes, manifest %d", ErrSize, st.Size(), m.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, m.Size+1)); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("%w: artifact %s, manifest %s", ErrHash, got, m.SHA256)
	}
	return nil
}

// Update states (UpdateStatus.State).
const (
	UpdateIdle        = "idle"
	UpdateDownloading = "downloading"
	UpdateStaged      = "staged"
	UpdateTrial       = "trial"
	UpdateCommitted   = "committed"
	UpdateRolledBack  = "rolled_back"
	UpdateRefused     = "refused"
	UpdateFailed      = "failed"
)

// UpdateStatus is the gateway's update state, carried by every heartbeat.
type UpdateStatus struct {
	Running  string   `json:"running"`
	Previous string   `json:"previous,omitempty"`
	Broken   []string `json:"broken,omitempty"`
	State    string   `json:"state"`
	Target   string   `json:"target,omitempty"` // version being downloaded / tried / refused
	Rollout  string   `json:"rollout,omitempty"`
	Have     int64    `json:"have,omitempty"` // bytes downloaded
	Size     int64    `json:"size,omitempty"`
	Attempt  int      `json:"attempt,omitempty"`
	Error    string   `json:"error,omitempty"`
	Platform string   `json:"platform"` // Platform(GOOS, GOARCH, GOARM)
	// StoreSchema is the schema of the local log; ReadsStore the newest
	// schema the running version can read.
	StoreSchema int   `json:"store_schema,omitempty"`
	ReadsStore  int   `json:"reads_store,omitempty"`
	Serial      int64 `json:"serial,omitempty"` // of the running release
}

// ReleaseOffer is the central's assignment, in the heartbeat answer.
// Absent: no assignment (a gateway mid-download stops).
type ReleaseOffer struct {
	Rollout        string          `json:"rollout"`
	Version        string          `json:"version"`
	Manifest       json.RawMessage `json:"manifest"` // the envelope, ≤ MaxManifest
	SHA256         string          `json:"sha256"`
	Size           int64           `json:"size"`
	AllowDowngrade bool            `json:"allow_downgrade,omitempty"`
}

// UpdateReport is the body of POST /v1/releases/report: an update that
// failed, was refused or was rolled back.
type UpdateReport struct {
	Rollout   string    `json:"rollout,omitempty"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Outcome   string    `json:"outcome"` // UpdateRolledBack, UpdateRefused, UpdateFailed, UpdateCommitted
	Reason    string    `json:"reason"`
	Attempts  int       `json:"attempts,omitempty"`
	ExitCodes []int     `json:"exit_codes,omitempty"`
	LogTail   string    `json:"log_tail,omitempty"` // ≤ MaxLogTail
	At        time.Time `json:"at"`
}

// ReleasePath is the path of an artifact's chunks: /v1/releases/{sha256}.
func ReleasePath(sha string) string { return PathReleases + "/" + sha }

// ParseRange reads a Range header of one range "bytes=a-b" (both bounds
// given) within an artifact of size bytes, at most MaxArtifactChunk long.
// It returns the first offset and the length.
func ParseRange(h string, size int64) (off, n int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || len(spec) > 41 {
		return 0, 0, fmt.Errorf("range %.40q: want bytes=first-last", h)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, fmt.Errorf("range %q: want bytes=first-last", h)
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, fmt.Errorf("range %q: want bytes=first-last", h)
	}
	if first >= size {
		return 0, 0, fmt.Errorf("range %q: artifact has %d bytes", h, size)
	}
	last = min(last, size-1)
	if last-first+1 > MaxArtifactChunk {
		return 0, 0, fmt.Errorf("range %q: at most %d bytes per request", h, MaxArtifactChunk)
	}
	return first, last - first + 1, nil
}
