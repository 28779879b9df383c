package jsstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/sync/receiver"
)

// Subjects of the events stream (docs/central.md):
//
//	edgegw.ev.<district>.<street>.<committee>.<compound>.<gateway>.<epoch>
//
// Places are codes (receiver.ParsePlace), "_" for a level a gateway was not
// registered under; the gateway id is escaped by GatewayToken; the epoch is
// decimal. A consumer takes a street with "edgegw.ev.putuo.caoyang.>".
const (
	SubjectPrefix = "edgegw.ev"
	// levels of the place in a subject, then the gateway and the epoch
	subjectTokens = 2 + 4 + 2
)

// GatewayToken escapes a gateway id (A-Z a-z 0-9 . _ -) into one subject
// token and KV key: "_" becomes "_5F" and "." becomes "_2E". The mapping is
// one-to-one and leaves the usual ids unchanged.
func GatewayToken(id string) string {
	if !strings.ContainsAny(id, "._") {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '_':
			b.WriteString("_5F")
		case '.':
			b.WriteString("_2E")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var errToken = errors.New("bad gateway token")

// GatewayFromToken reverses GatewayToken.
func GatewayFromToken(tok string) (string, error) {
	if !strings.Contains(tok, "_") {
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(tok) {
			return "", fmt.Errorf("%w %q", errToken, tok)
		}
		switch tok[i+1 : i+3] {
		case "5F":
			b.WriteByte('_')
		case "2E":
			b.WriteByte('.')
		default:
			return "", fmt.Errorf("%w %q", errToken, tok)
		}
		i += 2
	}
	return b.String(), nil
}

// placeTokens returns the four place codes of a gateway's place path.
func placeTokens(place string) []string {
	p, err := receiver.FullPlace(place)
	if err != nil { // registered through an older check: keep it unplaced
		p, _ = receiver.FullPlace("")
	}
	return p
}

// Subject is the subject of gateway gw's events of epoch, at place.
func Subject(place, gw string, epoch uint64) string {
	return SubjectPrefix + "." + strings.Join(placeTokens(place), ".") + "." + GatewayToken(gw) + "." + strconv.FormatUint(epoch, 10)
}

// ScopeFilter is the subject filter of a scope (receiver.ParseScope) and
// optionally one gateway: "putuo/caoyang" → "edgegw.ev.putuo.caoyang.>".
// Subjects stop at the gateway: a scope below a compound filters the
// compound's subjects, and its events are told apart by their paths
// (receiver.Scope.Match; Query, Consume and Tail do).
func ScopeFilter(scope, gw string) (string, error) {
	sc, err := receiver.ParseScope(scope)
	if err != nil {
		return "", err
	}
	p := sc.Place
	if gw == "" {
		if len(p) == 0 {
			return SubjectPrefix + ".>", nil
		}
		return SubjectPrefix + "." + strings.Join(p, ".") + ".>", nil
	}
	p = append([]string(nil), p...)
	for len(p) < 4 {
		p = append(p, "*")
	}
	return SubjectPrefix + "." + strings.Join(p, ".") + "." + GatewayToken(gw) + ".*", nil
}

// ParseSubject splits an events subject into the place path, the gateway
// id and the epoch.
func ParseSubject(subj string) (place, gw string, epoch uint64, err error) {
	t := strings.Split(subj, ".")
	if len(t) != subjectTokens || t[0]+"."+t[1] != SubjectPrefix {
		return "", "", 0, fmt.Errorf("subject %q: not an events subject", subj)
	}
	if gw, err = GatewayFromToken(t[6]); err != nil {
		return "", "", 0, fmt.Errorf("subject %q: %w", subj, err)
	}
	if epoch, err = strconv.ParseUint(t[7], 10, 64); err != nil {
		return "", "", 0, fmt.Errorf("subject %q: epoch: %w", subj, err)
	}
	return strings.Join(t[2:6], "/"), gw, epoch, nil
}

// scopes are the parsed scopes of a consumer or a query: the subject
// filters, and whether events must be matched one by one.
type scopes struct {
	list    []receiver.Scope
	filters []string
	deep    bool // a scope goes below a compound
}

func parseScopes(list []string, gw string) (*scopes, error) {
	s := &scopes{}
	seen := map[string]bool{}
	for _, raw := range list {
		sc, err := receiver.ParseScope(raw)
		if err != nil {
			return nil, err
		}
		f, err := ScopeFilter(sc.PlacePath(), gw)
		if err != nil {
			return nil, err
		}
		if !seen[f] { // two buildings of one compound: one filter
			seen[f] = true
			s.filters = append(s.filters, f)
		}
		s.list = append(s.list, sc)
		s.deep = s.deep || sc.Deep()
	}
	return s, nil
}

// keep reports whether an event with the full path lies in one of the
// scopes (all do when none goes below a compound: the filters did it).
func (s *scopes) keep(path string) bool {
	if !s.deep {
		return true
	}
	for _, sc := range s.list {
		if sc.Match(path) {
			return true
		}
	}
	return false
}

// narrow drops the events of b outside the scopes, keeping their cursors.
func (s *scopes) narrow(b *Batch) {
	if !s.deep {
		return
	}
	kept := b.Events[:0]
	for _, ev := range b.Events {
		if s.keep(ev.Path) {
			kept = append(kept, ev)
		}
	}
	b.Events = kept
}
