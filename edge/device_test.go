package edge

import (
	"strings"
	"testing"
)

func TestCheckLocation(t *testing.T) {
	for _, tc := range []struct {
		loc string
		ok  bool
	}{
		{"", true},
		{"sunrise/b3/u1/1201", true},
		{"阳光花园/3号楼/2单元/301", true},
		{"c1/b1/u1/h1/extra", true}, // extra segments stay in the location
		{strings.Repeat("a", MaxLocation), true},
		{strings.Repeat("a", MaxLocation+1), false},
		{"c1/b1\n", false},
		{"c1/\x00", false},
		{"c1/\xff", false},
	} {
		err := CheckLocation(tc.loc)
		if (err == nil) != tc.ok {
			t.Errorf("CheckLocation(%.40q) = %v, want ok %v", tc.loc, err, tc.ok)
		}
	}
}
