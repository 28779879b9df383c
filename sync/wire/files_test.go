package wire

import (
	"strings"
	"testing"
)

func TestValidFileName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"cam-1_20261129T060000.000Z_0001.jpg", true},
		{"a", true},
		{"", false},
		{".", false},
		{"..", false},
		{".tmp-x.jpg", false},
		{"a/b.jpg", false},
		{`a\b.jpg`, false},
		{"a b.jpg", false},
		{"摄像头.jpg", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
	} {
		if got := ValidFileName(tc.name); got != tc.want {
			t.Errorf("ValidFileName(%q): got %v, want %v", tc.name, got, tc.want)
		}
	}
}
