package wire

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSConfigFilesBounded: a CA, certificate or key file that is not a
// PEM file of sane size is refused, naming the file, without reading it
// whole (a bundle pointed at a disk image, or /dev/zero).
func TestTLSConfigFilesBounded(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.pem")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxPEMFile + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := TLSConfig(huge, "", ""); err == nil || !strings.Contains(err.Error(), huge) {
		t.Fatalf("huge CA file: got %v, want an error naming it", err)
	}
	if _, err := TLSConfig("", huge, huge); err == nil || !strings.Contains(err.Error(), huge) {
		t.Fatalf("huge certificate file: got %v, want an error naming it", err)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	if _, err := TLSConfig(empty, "", ""); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("empty CA file: got %v", err)
	}
	if _, err := TLSConfig("/dev/zero", "", ""); err == nil {
		t.Fatal("/dev/zero taken as a CA file")
	}
}
