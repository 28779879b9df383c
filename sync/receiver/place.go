package receiver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// ErrUnavailable is returned by a Storage that cannot tell now whether it
// stored a batch (no leader, a timeout): nothing was acknowledged. The
// receiver answers 503 overloaded with a Retry-After, and the gateway
// retries; a store that keeps the exactly-once promise across retries (the
// JetStream one does) makes the retry harmless.
var ErrUnavailable = errors.New("storage unavailable")

// Levels of the hierarchy a gateway is registered under, in order.
var Levels = []string{"district", "street", "committee", "compound"}

// Unplaced is the code of a level a gateway was not registered under.
const Unplaced = "_"

var placeCodeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ParsePlace parses a place path "district/street/committee/compound"
// (codes of 1 to 32 of a-z 0-9 -, the first a letter or digit). A shorter
// path is a scope (its first levels); "" is everything. It returns the
// codes, no more than four.
func ParsePlace(path string) ([]string, error) {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil, nil
	}
	parts := strings.Split(path, "/")
	if len(parts) > len(Levels) {
		return nil, fmt.Errorf("place %q: at most %d levels (%s)", path, len(Levels), strings.Join(Levels, "/"))
	}
	for i, p := range parts {
		if p != Unplaced && !placeCodeRe.MatchString(p) {
			return nil, fmt.Errorf("place %q: %s code %q: want 1 to 32 of a-z 0-9 - (a pinyin slug or the division code)", path, Levels[i], p)
		}
	}
	return parts, nil
}

// FullPlace returns the four codes of path, "_" for the levels not given.
func FullPlace(path string) ([]string, error) {
	p, err := ParsePlace(path)
	if err != nil {
		return nil, err
	}
	for len(p) < len(Levels) {
		p = append(p, Unplaced)
	}
	return p, nil
}

// Query selects stored events by place, gateway and time.
type Query struct {
	// Scope is a place path prefix: "putuo", "putuo/caoyang", ... down to
	// a building, unit or household of a compound (ParseScope); "" is all.
	Scope string
	// Gateway, when set, keeps one gateway's events.
	Gateway string
	// Since and Until bound the time the central received the events
	// (inclusive; zero is open). JetStream indexes the time a message was
	// stored, not the event's own time: a gateway that was offline a week
	// delivers last week's events today.
	Since, Until time.Time
	// After is a cursor: only events after it (0: from Since or the start).
	After uint64
	// Limit is the most events returned (default 1000).
	Limit int
}

// Querier is implemented by stores that query by place and received time
// (the JetStream store); the admin API finds it by type assertion.
type Querier interface {
	Query(q Query) (events []StoredEvent, next uint64, err error)
}

// failStore answers a storage error: 503 with Retry-After when the store
// is unavailable, else 500.
func (r *Receiver) failStore(w http.ResponseWriter, log *slog.Logger, req *http.Request, key *wire.Key, now time.Time, what string, err error) {
	if errors.Is(err, ErrUnavailable) {
		r.failRetry(w, log, req, key, now, wire.CodeOverloaded, 2*time.Second, what+": "+err.Error())
		return
	}
	r.fail(w, log, req, key, now, wire.CodeInternal, what+": "+err.Error())
}

// SystemClock returns the real clock, for stores that take a Clock.
func SystemClock() Clock { return systemClock{} }
