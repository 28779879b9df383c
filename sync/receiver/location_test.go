package receiver

import (
	"strings"
	"testing"
	"time"
)

func TestEventPath(t *testing.T) {
	for _, tc := range []struct {
		place, loc string
		path       string
		below      [3]string
	}{
		{"putuo/caoyang/c012/cp07", "cp07/3/2/301", "putuo/caoyang/c012/cp07/3/2/301", [3]string{"3", "2", "301"}},
		{"putuo/caoyang/c012/cp07", "sunrise/b3", "putuo/caoyang/c012/cp07/b3", [3]string{"b3"}},
		{"putuo/caoyang/c012/cp07", "/sunrise/b3/u1/", "putuo/caoyang/c012/cp07/b3/u1", [3]string{"b3", "u1"}},
		{"putuo/caoyang/c012/cp07", "sunrise", "putuo/caoyang/c012/cp07", [3]string{}},
		{"putuo/caoyang/c012/cp07", "", "putuo/caoyang/c012/cp07", [3]string{}},
		{"putuo/caoyang/c012/cp07", "c1//u1", "putuo/caoyang/c012/cp07/_/u1", [3]string{"", "u1"}},
		{"putuo/caoyang/c012/cp07", "c1/b1/u1/h1/door", "putuo/caoyang/c012/cp07/b1/u1/h1", [3]string{"b1", "u1", "h1"}},
		{"putuo/caoyang/c012/cp07", "阳光/3号楼", "putuo/caoyang/c012/cp07/3号楼", [3]string{"3号楼"}},
		{"putuo/caoyang", "c1/b1", "putuo/caoyang/_/_/b1", [3]string{"b1"}},
		{"", "c1/b1", "_/_/_/_/b1", [3]string{"b1"}},
		{"", "", "", [3]string{}},
	} {
		path, below := EventPath(tc.place, tc.loc)
		if path != tc.path || below != tc.below {
			t.Errorf("EventPath(%q, %q) = %q, %q; want %q, %q", tc.place, tc.loc, path, below, tc.path, tc.below)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in           string
		place, below string // joined by "/"; "!" is an error
	}{
		{"", "", ""},
		{"putuo", "putuo", ""},
		{"/putuo/caoyang/", "putuo/caoyang", ""},
		{"putuo/caoyang/c012/cp07", "putuo/caoyang/c012/cp07", ""},
		{"putuo/caoyang/c012/cp07/3", "putuo/caoyang/c012/cp07", "3"},
		{"putuo/caoyang/c012/cp07/3/2/301", "putuo/caoyang/c012/cp07", "3/2/301"},
		{"putuo/caoyang/c012/cp07/3号楼/2单元", "putuo/caoyang/c012/cp07", "3号楼/2单元"},
		{"putuo/_/_/_/b1", "putuo/_/_/_", "b1"},
		{"putuo/caoyang/c012/cp07/3/2/301/x", "!", ""},
		{"putuo/Caoyang", "!", ""},
		{"putuo/caoyang/c012/cp07/3//301", "!", ""},
		{"putuo/caoyang/c012/cp07/a\tb", "!", ""},
		{"putuo/caoyang/c012/cp07/" + strings.Repeat("b", maxSegment+1), "!", ""},
	} {
		sc, err := ParseScope(tc.in)
		if tc.place == "!" {
			if err == nil {
				t.Errorf("ParseScope(%q) = %+v, want an error", tc.in, sc)
			}
			continue
		}
		if err != nil || sc.PlacePath() != tc.place || strings.Join(sc.Below, "/") != tc.below {
			t.Errorf("ParseScope(%q) = %+v, %v; want place %q below %q", tc.in, sc, err, tc.place, tc.below)
		}
		if sc.Deep() != (tc.below != "") {
			t.Errorf("ParseScope(%q).Deep() = %v", tc.in, sc.Deep())
		}
	}
}

func TestScopeMatch(t *testing.T) {
	const p = "putuo/caoyang/c012/cp07"
	for _, tc := range []struct {
		scope, path string
		want        bool
	}{
		{"", "", true},
		{"", p + "/3/2/301", true},
		{"putuo", p, true},
		{"putuo/caoyang/c012/cp07", p + "/3/2/301", true},
		{"putuo/caoyang/c012/cp07/3", p + "/3/2/301", true},
		{"putuo/caoyang/c012/cp07/3", p + "/3", true},
		{"putuo/caoyang/c012/cp07/3", p + "/31/2/301", false},
		{"putuo/caoyang/c012/cp07/3", p + "/5/1/101", false},
		{"putuo/caoyang/c012/cp07/3", p, false}, // no building: not in any
		{"putuo/caoyang/c012/cp07/3/2", p + "/3/2/301", true},
		{"putuo/caoyang/c012/cp07/3/2", p + "/3/1/301", false},
		{"putuo/caoyang/c012/cp07/3/2/301", p + "/3/2/301", true},
		{"putuo/caoyang/c012/cp07/3/2/301", p + "/3/2/302", false},
		{"putuo/caoyang/c012/cp08/3", p + "/3", false},
		{"putuo/caoyang/c0", p, false},
	} {
		sc, err := ParseScope(tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.Match(tc.path); got != tc.want {
			t.Errorf("scope %q match %q: got %v, want %v", tc.scope, tc.path, got, tc.want)
		}
	}
}

// The Badger store keeps each event's location and gives it its path: the
// gateway's place, then the device's building, unit and household.
func TestBadgerEventPath(t *testing.T) {
	st, err := OpenBadger(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := AddPlacedGateway(st, "gw-a", "putuo/caoyang/c012/cp07", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := AddPlacedGateway(st, "gw-u", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	evs := readings(1, 1, 3)
	evs[0].Location, evs[1].Location = "cp07/3/2/301", "cp07/5"
	for _, gw := range []string{"gw-a", "gw-u"} {
		if _, _, err := st.StoreBatch(gw, evs, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := st.Events("", 0, 10)
	if err != nil || len(got) != 6 {
		t.Fatalf("got %d events, %v", len(got), err)
	}
	want := []struct{ path, b, u, h, loc string }{
		{"putuo/caoyang/c012/cp07/3/2/301", "3", "2", "301", "cp07/3/2/301"},
		{"putuo/caoyang/c012/cp07/5", "5", "", "", "cp07/5"},
		{"putuo/caoyang/c012/cp07", "", "", "", ""},
		{"_/_/_/_/3/2/301", "3", "2", "301", "cp07/3/2/301"},
		{"_/_/_/_/5", "5", "", "", "cp07/5"},
		{"", "", "", "", ""},
	}
	for i, w := range want {
		g := got[i]
		e, _ := g.Decode()
		if g.Path != w.path || g.Building != w.b || g.Unit != w.u || g.Household != w.h || e.Location != w.loc {
			t.Errorf("event %d: got path %q %q/%q/%q loc %q, want %+v", i, g.Path, g.Building, g.Unit, g.Household, e.Location, w)
		}
	}
}
