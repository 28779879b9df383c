package receiver

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DeviceLevels are the levels of the hierarchy below the compound. They
// come from the location of the event's device in the gateway's config,
// compound/building/unit/household: its segments after the first (the
// compound is the gateway's registered one, Levels[3]).
var DeviceLevels = []string{"building", "unit", "household"}

// maxSegment bounds one building, unit or household segment of a scope.
const maxSegment = 64

// EventPath returns the full path of an event of a gateway registered at
// place (ParsePlace; "" is unplaced) whose device is at loc: the four place
// codes, then the building, unit and household of loc as far as loc names
// them ("_" for an empty segment before a named one). below holds those
// three ("" for those not named). An event without a location below the
// compound (a gateway's own gap record, an old gateway's event) has the
// place as its path, "" when the gateway is unplaced.
func EventPath(place, loc string) (path string, below [3]string) {
	segs := strings.Split(strings.Trim(loc, "/"), "/")
	n := 0
	for i := 1; i < len(segs) && i <= len(below); i++ {
		below[i-1] = segs[i]
		if segs[i] != "" {
			n = i
		}
	}
	if n == 0 {
		return place, [3]string{}
	}
	p, err := FullPlace(place)
	if err != nil { // registered through an older check: unplaced
		p, _ = FullPlace("")
	}
	for i := 0; i < n; i++ {
		s := below[i]
		if s == "" {
			s = Unplaced
		}
		p = append(p, s)
	}
	return strings.Join(p, "/"), below
}

// Locate sets the path, building, unit and household of s, an event of a
// gateway registered at place whose device is at loc (EventPath).
func (s *StoredEvent) Locate(place, loc string) {
	var below [3]string
	s.Path, below = EventPath(place, loc)
	s.Building, s.Unit, s.Household = below[0], below[1], below[2]
}

// Scope selects events by their place in the hierarchy: a path prefix of
// district/street/committee/compound codes and, below a compound, the
// building, unit and household of the event's device. A gateway is not a
// level of a scope (a compound may have several gateways, and a building's
// devices may be spread over them): Query.Gateway selects one.
type Scope struct {
	Place []string // the first levels, at most len(Levels) codes
	Below []string // building, unit, household: only after all four place codes
}

// ParseScope parses a scope, "" for everything:
//
//	putuo/caoyang                     a street
//	putuo/caoyang/c012/cp07           a compound
//	putuo/caoyang/c012/cp07/3         building 3 of that compound
//	putuo/caoyang/c012/cp07/3/2/301   household 301 of unit 2 of building 3
//
// Place codes are ParsePlace's; a building, unit or household is 1 to 64
// bytes of UTF-8 without "/" or control characters, as the devices'
// locations name them ("_" for an empty segment).
func ParseScope(s string) (Scope, error) {
	s = strings.Trim(s, "/")
	if s == "" {
		return Scope{}, nil
	}
	parts := strings.Split(s, "/")
	all := append(append([]string(nil), Levels...), DeviceLevels...)
	if len(parts) > len(all) {
		return Scope{}, fmt.Errorf("scope %q: at most %d levels (%s)", s, len(all), strings.Join(all, "/"))
	}
	n := min(len(parts), len(Levels))
	if _, err := ParsePlace(strings.Join(parts[:n], "/")); err != nil {
		return Scope{}, fmt.Errorf("scope: %w", err)
	}
	sc := Scope{Place: parts[:n]}
	for i, seg := range parts[n:] {
		if seg == "" || len(seg) > maxSegment || !utf8.ValidString(seg) || strings.ContainsFunc(seg, unicode.IsControl) {
			return Scope{}, fmt.Errorf("scope %q: %s %q: want 1 to %d bytes of UTF-8 without control characters", s, DeviceLevels[i], seg, maxSegment)
		}
		sc.Below = append(sc.Below, seg)
	}
	return sc, nil
}

// PlacePath is the place part of the scope: "putuo/caoyang/c012/cp07".
func (sc Scope) PlacePath() string { return strings.Join(sc.Place, "/") }

// Deep reports whether the scope goes below the compound: its events can
// only be told apart by their devices' locations, not by subject.
func (sc Scope) Deep() bool { return len(sc.Below) > 0 }

// Match reports whether an event with the full path (EventPath) lies in
// the scope, level by level.
func (sc Scope) Match(path string) bool {
	want := len(sc.Place) + len(sc.Below)
	if want == 0 {
		return true
	}
	segs := strings.SplitN(path, "/", want+1)
	if len(segs) < want {
		return false
	}
	for i, p := range sc.Place {
		if segs[i] != p {
			return false
		}
	}
	for i, b := range sc.Below {
		if segs[len(sc.Place)+i] != b {
			return false
		}
	}
	return true
}

// String is the scope as ParseScope reads it.
func (sc Scope) String() string {
	return strings.Join(append(append([]string(nil), sc.Place...), sc.Below...), "/")
}
