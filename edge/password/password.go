// Package password hashes and checks the technician password of the status
// page: PBKDF2-SHA256 from the standard library, encoded as
// "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>". It is a leaf
// (the standard library only): edge/config checks a configured hash's
// format with it, edge/status verifies logins.
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	scheme = "pbkdf2-sha256"
	// DefaultIterations follows OWASP's 2023 advice for PBKDF2-HMAC-SHA256.
	// It costs about 0.3 s on a Raspberry Pi 4, once per login.
	DefaultIterations = 600_000
	// MinIterations is the least a configured hash may use.
	MinIterations = 10_000
	// MaxIterations bounds the work a (possibly hostile) config can ask for.
	MaxIterations = 10_000_000
	saltLen       = 16
	keyLen        = 32
)

// ErrFormat says an encoded hash is not "pbkdf2-sha256$iter$salt$hash".
var ErrFormat = errors.New("password hash: want pbkdf2-sha256$<iterations>$<salt>$<hash> (make one with: edgegw status hash-password)")

// Hash is a parsed password hash.
type Hash struct {
	Iterations int
	Salt       []byte
	Key        []byte
}

// New hashes pw with a random salt and DefaultIterations.
func New(pw string) (string, error) {
	return NewWithIterations(pw, DefaultIterations)
}

// NewWithIterations is New with a given iteration count (tests use fewer).
func NewWithIterations(pw string, iter int) (string, error) {
	if pw == "" {
		return "", errors.New("password hash: empty password")
	}
	if iter < 1 || iter > MaxIterations {
		return "", fmt.Errorf("password hash: iterations %d out of range", iter)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, iter, keyLen)
	if err != nil {
		return "", err
	}
	h := Hash{Iterations: iter, Salt: salt, Key: key}
	return h.String(), nil
}

// String encodes h.
func (h Hash) String() string {
	enc := base64.RawStdEncoding
	return scheme + "$" + strconv.Itoa(h.Iterations) + "$" + enc.EncodeToString(h.Salt) + "$" + enc.EncodeToString(h.Key)
}

// Parse decodes an encoded hash and checks its parameters.
func Parse(s string) (Hash, error) {
	parts := strings.Split(strings.TrimSpace(s), "$")
	if len(parts) != 4 || parts[0] != scheme {
		return Hash{}, ErrFormat
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil {
		return Hash{}, ErrFormat
	}
	if iter < MinIterations || iter > MaxIterations {
		return Hash{}, fmt.Errorf("password hash: %d iterations, want %d to %d", iter, MinIterations, MaxIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return Hash{}, fmt.Errorf("password hash: bad salt: %w", ErrFormat)
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Hash{}, fmt.Errorf("password hash: bad hash: %w", ErrFormat)
	}
	return Hash{Iterations: iter, Salt: salt, Key: key}, nil
}

// Verify reports whether pw matches h, in constant time.
func (h Hash) Verify(pw string) bool {
	if len(h.Key) == 0 {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, pw, h.Salt, h.Iterations, len(h.Key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}
