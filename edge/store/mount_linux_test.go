package store

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size bytes for the test, or skips the test
// where mounting is not permitted (not root, no CAP_SYS_ADMIN).
func smallFS(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("skipped: a small filesystem is needed and mount is not permitted here (%v); run as root", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
