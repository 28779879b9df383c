package edge

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFileLimit(p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: got %q, %v", b, err)
	}
	if b, err := ReadFileLimit(p, 4); err == nil || b != nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("over the limit: got %q, %v; want an error naming the file", b, err)
	}
	if _, err := ReadFileLimit(filepath.Join(dir, "none"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadFileLimit(dir, 4); err == nil {
		t.Fatal("a directory read as a file")
	}
}
