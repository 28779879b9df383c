package receiver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/edgegw/edgegw/sync/wire"
)

// What the gate admits, in the order it checks (PROTOCOL.md §2, "Limits"):
//
//  1. the gateway exists (401) and the declared Content-Length fits the
//     endpoint's limit (413): nothing of the body is read yet;
//  2. the signature, against the body digest the request declares in
//     X-Edgegw-Content-Sha256 (401), and the replay memory (401): still
//     nothing read. A request without the digest header (an older gateway)
//     is checked once its body is read, in a small pool of its own, so a
//     flood of forged bodies cannot take the memory the genuine requests
//     need;
//  3. the gateway's rate and share of the memory budget (429), then the
//     budget itself (503): the body's bytes are reserved before it is read;
//  4. the body is read into one buffer of its declared size, hashed as it
//     streams in, and must match the digest (401).
//
// Handlers then reserve what decompressing and decoding cost before they
// do it (Gunzip's reserve, wire.DecodeCost), so the receiver's heap stays
// within the budget whatever its clients send.

// Errors of a reservation.
var (
	// errOverBudget: the request needs more than one request may ever hold
	// (413: the gateway splits a batch that is too large).
	errOverBudget = errors.New("needs more memory than one request may use")
	// errBusy: the budget is in use by other requests now (503).
	errBusy = errors.New("the receiver's memory budget is in use")
	// errGatewayBusy: this gateway's requests hold their share now (429).
	errGatewayBusy = errors.New("this gateway's requests in flight hold their share of the memory budget")
)

// budget is a memory budget in bytes: requests reserve from it what they
// will allocate, and give it back when they end.
type budget struct {
	sem  *semaphore.Weighted
	size int64
	used atomic.Int64
	peak atomic.Int64
}

func newBudget(size int64) *budget {
	return &budget{sem: semaphore.NewWeighted(size), size: size}
}

// charge is one request's hold on a budget and, once the gateway is
// authenticated, on that gateway's share.
type charge struct {
	b     *budget
	gw    *gwState // nil: not counted against a gateway
	max   int64    // the most this request may hold
	gwMax int64    // the most one gateway's requests may hold together
	n     int64
}

// reserve takes n more bytes for the request, or fails without taking any.
func (c *charge) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	if c.n+n > c.max {
		return fmt.Errorf("%w: %d bytes, the limit is %d", errOverBudget, c.n+n, c.max)
	}
	if c.gw != nil && !c.gw.take(n, c.gwMax) {
		return errGatewayBusy
	}
	if !c.b.sem.TryAcquire(n) {
		if c.gw != nil {
			c.gw.give(n)
		}
		return errBusy
	}
	c.n += n
	used := c.b.used.Add(n)
	for {
		p := c.b.peak.Load()
		if used <= p || c.b.peak.CompareAndSwap(p, used) {
			break
		}
	}
	return nil
}

// release gives back everything the request holds.
func (c *charge) release() {
	if c.n == 0 {
		return
	}
	c.b.sem.Release(c.n)
	c.b.used.Add(-c.n)
	if c.gw != nil {
		c.gw.give(c.n)
	}
	c.n = 0
}

// gwState is what the gate keeps per authenticated gateway.
type gwState struct {
	lim      *rate.Limiter
	mu       gosync.Mutex
	inflight int64 // bytes its requests hold
}

func (g *gwState) take(n, max int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight+n > max {
		return false
	}
	g.inflight += n
	return true
}

func (g *gwState) give(n int64) {
	g.mu.Lock()
	g.inflight -= n
	g.mu.Unlock()
}

// gwState returns the gate's state of gateway id. Only gateways whose
// signature held get one, so the map holds at most one per gateway.
func (r *Receiver) gwState(id string) *gwState {
	r.gwMu.Lock()
	defer r.gwMu.Unlock()
	s := r.gws[id]
	if s == nil {
		s = &gwState{lim: rate.NewLimiter(rate.Limit(r.opts.GatewayRate), r.opts.GatewayBurst)}
		r.gws[id] = s
	}
	return s
}

// admitGateway checks an authenticated gateway: not disabled (403), within
// its request rate (429 with the wait in Retry-After). It answers and
// returns false when the request may not go on.
func (r *Receiver) admitGateway(w http.ResponseWriter, log *slog.Logger, req *http.Request, g *Gateway, now time.Time) bool {
	key := &g.Key
	if g.Disabled {
		r.fail(w, log, req, key, now, wire.CodeForbidden, fmt.Sprintf("gateway %q is disabled: its requests are refused until an operator enables it (edgecentral gateways enable %s); keep the backlog", g.ID, g.ID))
		return false
	}
	res := r.gwState(g.ID).lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); !res.OK() || d > 0 {
		res.CancelAt(now)
		r.failRetry(w, log, req, key, now, wire.CodeRateLimited, max(d, time.Second),
			fmt.Sprintf("gateway %q sends more than %g requests per second", g.ID, r.opts.GatewayRate))
		return false
	}
	return true
}

// failReserve answers a failed reservation: 413, 429 or 503.
func (r *Receiver) failReserve(w http.ResponseWriter, log *slog.Logger, req *http.Request, key *wire.Key, now time.Time, err error, what string) {
	switch {
	case errors.Is(err, errOverBudget):
		r.fail(w, log, req, key, now, wire.CodeTooLarge, what+": "+err.Error())
	case errors.Is(err, errGatewayBusy):
		r.failRetry(w, log, req, key, now, wire.CodeRateLimited, time.Second, what+": "+err.Error())
	default:
		r.failRetry(w, log, req, key, now, wire.CodeOverloaded, time.Second, what+": "+err.Error())
	}
}

// readBody reads a request body of at most limit bytes into one buffer,
// hashing it as it streams in; it returns the body and hex(sha256(body)).
func readBody(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, string, error) {
	h := sha256.New()
	body, err := wire.ReadLimited(io.TeeReader(http.MaxBytesReader(w, req.Body, limit), h), req.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("%w: more than %d bytes", wire.ErrBodyTooLarge, limit)
		}
		return nil, "", err
	}
	return body, hex.EncodeToString(h.Sum(nil)), nil
}

// Stats are the receiver's counters since it started.
type Stats struct {
	// BudgetBytes is the memory budget; BudgetInUse what requests hold now,
	// BudgetPeak the most they held at once.
	BudgetBytes int64 `json:"budget_bytes"`
	BudgetInUse int64 `json:"budget_in_use"`
	BudgetPeak  int64 `json:"budget_peak"`
	// LegacyPeak is the peak of the pool of requests without the digest header.
	LegacyPeak int64 `json:"legacy_peak"`
	// Refused counts the requests answered with each error code.
	Refused map[string]uint64 `json:"refused"`
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() Stats {
	s := Stats{BudgetBytes: r.budget.size, BudgetInUse: r.budget.used.Load(), BudgetPeak: r.budget.peak.Load(),
		LegacyPeak: r.legacy.peak.Load(), Refused: map[string]uint64{}}
	for code, n := range r.refused {
		if v := n.Load(); v > 0 {
			s.Refused[code] = v
		}
	}
	return s
}
