package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Release files on disk: the key pair `edgecentral release keygen` writes,
// the trusted keys a gateway reads, artifacts and manifest files.

// The names of the key pair in the directory of `edgecentral release keygen`.
const (
	ReleaseKeyFile = "release.key"
	ReleasePubFile = "release.pub"
)

// maxKeyFile bounds the read of a key file: a key is one line of under 100
// bytes, and a file of trusted keys a few of them with comments.
const maxKeyFile = 64 << 10

// ErrKeyExists is the error of WriteReleaseKeys when the directory already
// holds a key pair: it never overwrites one.
var ErrKeyExists = errors.New("release key exists")

// WriteReleaseKeys makes a new key pair and writes it into dir as
// ReleaseKeyFile (mode 0600, the private key) and ReleasePubFile (0644),
// each the key's String and a newline. It creates dir (0700) when missing
// and refuses, with ErrKeyExists, when either file exists.
func WriteReleaseKeys(dir string) (ReleasePrivateKey, error) {
	keyPath, pubPath := filepath.Join(dir, ReleaseKeyFile), filepath.Join(dir, ReleasePubFile)
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return ReleasePrivateKey{}, fmt.Errorf("%w: %s (move it away to make a new key; a key in use is never replaced)", ErrKeyExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return ReleasePrivateKey{}, fmt.Errorf("release key: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ReleasePrivateKey{}, fmt.Errorf("release key: %w", err)
	}
	priv, pub, err := GenerateReleaseKey()
	if err != nil {
		return ReleasePrivateKey{}, err
	}
	if err := writeNew(keyPath, priv.String()+"\n", 0o600); err != nil {
		return ReleasePrivateKey{}, err
	}
	if err := writeNew(pubPath, pub.String()+"\n", 0o644); err != nil {
		os.Remove(keyPath) // ours: made just now, its public half is lost
		return ReleasePrivateKey{}, err
	}
	return priv, nil
}

// writeNew creates path, failing when it exists, and writes s to it.
func writeNew(path, s string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrKeyExists, path)
	}
	if err != nil {
		return fmt.Errorf("release key: %w", err)
	}
	_, err = f.WriteString(s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("release key %s: %w", path, err)
	}
	return nil
}

// readBounded reads the file at path, failing when it is over max bytes.
func readBounded(path string, max int64) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > max {
		return nil, true, nil
	}
	return b, false, nil
}

// keyLines calls f with each line of a key file that is not blank or a
// '#' comment, and its line number.
func keyLines(b []byte, f func(n int, line string) error) error {
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f(i+1, line); err != nil {
			return err
		}
	}
	return nil
}

func readKeyFile(path string) ([]byte, error) {
	b, tooBig, err := readBounded(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if tooBig {
		return nil, fmt.Errorf("key file %s: over %d bytes: not a key file", path, maxKeyFile)
	}
	return b, nil
}

// ReadReleasePrivateKeyFile reads the signing key written by
// WriteReleaseKeys: one "edgegw-release-key:..." line ('#' comments and
// blank lines aside).
func ReadReleasePrivateKeyFile(path string) (ReleasePrivateKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return ReleasePrivateKey{}, err
	}
	var keys []ReleasePrivateKey
	err = keyLines(b, func(n int, line string) error {
		if strings.HasPrefix(line, "ed25519:") {
			return fmt.Errorf("%s:%d: a public key: sign with the private key (%s)", path, n, ReleaseKeyFile)
		}
		k, err := ParseReleasePrivateKey(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		keys = append(keys, k)
		return nil
	})
	switch {
	case err != nil:
		return ReleasePrivateKey{}, err
	case len(keys) != 1:
		return ReleasePrivateKey{}, fmt.Errorf("%s: %d private keys, want 1", path, len(keys))
	}
	return keys[0], nil
}

// ParseReleasePublicKeys reads trusted keys, one "ed25519:<keyid>:<base64>"
// a line, with blank lines and '#' comments; name is where they come from,
// for the errors. A key given twice counts once.
func ParseReleasePublicKeys(b []byte, name string) ([]ReleasePublicKey, error) {
	var keys []ReleasePublicKey
	seen := map[string]bool{}
	err := keyLines(b, func(n int, line string) error {
		if strings.HasPrefix(line, "edgegw-release-key:") {
			return fmt.Errorf("%s:%d: a private key: give the public key (%s), and keep the private key off the gateways", name, n, ReleasePubFile)
		}
		k, err := ParseReleasePublicKey(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if !seen[k.ID] {
			seen[k.ID] = true
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no release public key", name)
	}
	return keys, nil
}

// ReadReleasePublicKeys reads the file of trusted keys at path
// (ParseReleasePublicKeys).
func ReadReleasePublicKeys(path string) ([]ReleasePublicKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return ParseReleasePublicKeys(b, path)
}

// ReadManifestFile reads a manifest file, at most MaxManifest bytes (a
// larger one is ErrBadManifest).
func ReadManifestFile(path string) ([]byte, error) {
	b, tooBig, err := readBounded(path, MaxManifest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if tooBig {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrBadManifest, path, MaxManifest)
	}
	return b, nil
}

// HashArtifact reads the file at path as a stream and returns its size
// and lowercase hex sha256. A file over MaxArtifact is refused.
func HashArtifact(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxArtifact+1))
	if err != nil {
		return 0, "", fmt.Errorf("artifact %s: %w", path, err)
	}
	switch {
	case n > MaxArtifact:
		return 0, "", fmt.Errorf("artifact %s: over %d bytes", path, MaxArtifact)
	case n == 0:
		return 0, "", fmt.Errorf("artifact %s: empty", path)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// SignRelease hashes the artifact at path, completes m with its size and
// sha256 (and the Serial, when 0, from Created's unix seconds), and signs
// it. It returns the manifest file and the manifest as signed.
func SignRelease(path string, m Manifest, keys ...ReleasePrivateKey) ([]byte, Manifest, error) {
	if m.Format == "" {
		m.Format = ReleaseFormat
	}
	if m.Product == "" {
		m.Product = ReleaseProduct
	}
	if m.Serial == 0 {
		m.Serial = m.Created.Unix()
	}
	// The fields first: a bad version is told before a large file is read.
	pre := m
	pre.Size, pre.SHA256 = 1, strings.Repeat("0", 64)
	if err := pre.Check(); err != nil {
		return nil, m, err
	}
	size, sum, err := HashArtifact(path)
	if err != nil {
		return nil, m, err
	}
	m.Size, m.SHA256 = size, sum
	b, err := SignManifest(m, keys...)
	return b, m, err
}

// VerifyRelease checks a manifest file and its artifact, offline: a
// signature by a trusted key, the platform goos/goarch(/goarm), then the
// artifact's size and sha256. It returns the manifest and the id of the
// key that signed it. Every failure of the pair wraps exactly one of the
// release errors (ErrBadManifest, ErrReleaseSig, ErrUnknownKey,
// ErrPlatform, ErrSize, ErrHash); an artifact that cannot be read, none.
func VerifyRelease(manifest []byte, artifact string, trusted []ReleasePublicKey, goos, goarch, goarm string) (Manifest, string, error) {
	m, signer, err := VerifyManifestSigner(manifest, trusted)
	if err != nil {
		return m, "", err
	}
	if err := m.CheckPlatform(goos, goarch, goarm); err != nil {
		return m, signer, err
	}
	if err := m.VerifyArtifact(artifact); err != nil {
		return m, signer, err
	}
	return m, signer, nil
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so that a reader sees the old file or the
// whole new one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteFileAtomicFrom(path, bytes.NewReader(data), perm)
}

// WriteFileAtomicFrom is WriteFileAtomic of what r holds (a stream: a
// binary is copied without holding it in memory). The file is fsynced
// before the rename.
func WriteFileAtomicFrom(path string, r io.Reader, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
