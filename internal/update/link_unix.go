//go:build !windows

package update

import (
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

var tmpSeq atomic.Uint64

// On Unix a pointer is a symlink to versions/<v>, switched by renaming a
// new symlink over it (rename(2) is atomic).
func writePointer(path, v string) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(tmpSeq.Add(1), 10)
	if err := os.Symlink(filepath.Join("versions", v), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func readPointer(path string) (string, error) {
	t, err := os.Readlink(path)
	if err != nil {
		return "", err
	}
	return filepath.Base(t), nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
