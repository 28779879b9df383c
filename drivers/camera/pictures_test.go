package camera

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func jpgs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// TestPicturesBounded: the folder keeps max_files and max_bytes, oldest
// out first, also across a reopen.
func TestPicturesBounded(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPictures(dir, 10000, 3)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var names []string
	for i := 0; i < 5; i++ {
		n, err := p.Save("cam/b5 roof", at.Add(time.Duration(i)*time.Second), fakeJPEG(1000))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if got := jpgs(t, dir); len(got) != 3 || got[0] != names[2] || got[2] != names[4] {
		t.Errorf("got %v, want the last three of %v", got, names)
	}
	// A large one pushes out by bytes.
	big, err := p.Save("cam", at.Add(time.Minute), fakeJPEG(9500))
	if err != nil {
		t.Fatal(err)
	}
	if got := jpgs(t, dir); len(got) != 1 || got[0] != big {
		t.Errorf("got %v, want only %s", got, big)
	}
	if _, err := p.Save("cam", at, fakeJPEG(20000)); err == nil {
		t.Errorf("a picture larger than the folder was kept")
	}
	files, bytes, evicted := p.Usage()
	if files != 1 || bytes != 9500 || evicted != 5 {
		t.Errorf("usage %d files %d bytes %d evicted", files, bytes, evicted)
	}
	// Reopened with smaller bounds, and a stale temp file: cleaned up.
	os.WriteFile(filepath.Join(dir, ".tmp-x.jpg"), []byte("x"), 0o600)
	p2, err := OpenPictures(dir, 5000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if files, _, _ := p2.Usage(); files != 0 || len(jpgs(t, dir)) != 0 {
		t.Errorf("reopen kept %d files: %v", files, jpgs(t, dir))
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-x.jpg")); !os.IsNotExist(err) {
		t.Errorf("temp file left: %v", err)
	}
}
