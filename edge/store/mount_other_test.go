//go:build !linux

package store

import "testing"

func smallFS(t *testing.T, size int64) string {
	t.Skip("skipped: the full-disk tests mount a tmpfs, which only Linux has")
	return ""
}
