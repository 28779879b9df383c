// Package hostile sends a receiver the traffic of a hostile or broken
// client, for the tests and benchmarks of the field-hardening work
// (docs/hardening.md §4): forged multi-MiB bodies, gzip bombs, batches that
// cost far more to decode than to send, poison batches, and a good
// gateway's batches in between; it tallies the answers.
package hostile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// Tally counts the answers of a flood.
type Tally struct {
	mu       sync.Mutex
	codes    map[int]int
	problems []string // the first few answers a hostile request must not get
	nProblem int
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{codes: map[int]int{}} }

func (t *Tally) problem(format string, a ...any) {
	t.nProblem++
	if len(t.problems) < 10 {
		t.problems = append(t.problems, fmt.Sprintf(format, a...))
	}
}

// HungUp is the status Send reports when the server closed the connection
// before the client had sent the whole body: it refused the request
// without reading the rest (its answer is lost to a client that does not
// read before it has sent everything; Request.Continue avoids that).
const HungUp = -1

// Note counts one answer to a hostile request (status 0: no answer, err).
// A hostile request must get a 4xx (or HungUp), and a 429 or 503 must
// carry Retry-After; anything else is a problem.
func (t *Tally) Note(status int, retryAfter string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.codes[status]++
	switch {
	case status == HungUp:
	case err != nil:
		t.problem("no answer: %v", err)
	case status < 400 || status >= 500 && status != http.StatusServiceUnavailable:
		t.problem("status %d", status)
	case (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && retryAfter == "":
		t.problem("status %d without Retry-After", status)
	}
}

// Codes returns the count of each status (0: no answer).
func (t *Tally) Codes() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int]int, len(t.codes))
	for k, v := range t.codes {
		out[k] = v
	}
	return out
}

// Problems returns how many answers were wrong, and the first few.
func (t *Tally) Problems() (int, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nProblem, append([]string(nil), t.problems...)
}

// String writes the counts as "401:120 413:12 503:80".
func (t *Tally) String() string {
	c := t.Codes()
	keys := make([]int, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", k, c[k])
	}
	return b.String()
}

// Request is one hostile request to send: a gateway's batch POST.
type Request struct {
	Gateway string
	Key     wire.Key // signs the request; a key the gateway does not have forges it
	Body    []byte
	// NoDigest leaves out X-Edgegw-Content-Sha256 (an older gateway): the
	// receiver can check the signature only once the body is in.
	NoDigest bool
	// Continue sends Expect: 100-continue and the body only once the
	// server asks for it (the client's transport needs an
	// ExpectContinueTimeout).
	Continue bool
}

// Send posts r to the receiver at base and returns the status and the
// Retry-After of the answer (status HungUp: the server closed the
// connection before the body was sent). The answer body is read and dropped.
func Send(ctx context.Context, c *http.Client, base string, r Request, now time.Time) (int, string, error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+wire.PathBatches, bytes.NewReader(r.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", wire.ContentTypeBatch)
	req.Header.Set("Content-Encoding", "gzip")
	wire.SignRequest(req, r.Gateway, r.Key, r.Body, now)
	if r.NoDigest {
		req.Header.Del(wire.HeaderContentSHA256)
	}
	if r.Continue {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.Do(req)
	if err != nil {
		if !wrote.Load() && ctx.Err() == nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			return HungUp, "", nil
		}
		return 0, "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// Flood sends requests from workers goroutines, each sending next() until
// it returns false or ctx ends, and notes every answer in t.
func Flood(ctx context.Context, c *http.Client, base string, workers int, t *Tally, next func(worker, i int) (Request, bool), now func() time.Time) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				r, ok := next(w, i)
				if !ok {
					return
				}
				st, ra, err := Send(ctx, c, base, r, now())
				if ctx.Err() != nil {
					return
				}
				t.Note(st, ra, err)
			}
		}()
	}
	wg.Wait()
}

// Garbage returns n bytes that look like the start of a gzip stream and are
// not one: the body of a forged request.
func Garbage(n int) []byte {
	b := bytes.Repeat([]byte{0x1f, 0x8b, 8, 0, 'e', 'v', 'i', 'l'}, n/8+1)
	return b[:n]
}

// Bomb returns a gzip stream of n zero bytes (a few kB for hundreds of
// MiB). With lie > 0 its trailer declares lie bytes instead: a receiver
// that trusts the trailer to size its buffer must still stop at it.
func Bomb(n int64, lie uint32) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zero)) {
		zw.Write(zero[:min(left, int64(len(zero)))])
	}
	zw.Close()
	b := buf.Bytes()
	if lie > 0 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], lie)
	}
	return b
}

// Costly returns a valid batch of n minimal events: a few kB on the wire,
// about 50 bytes of decoded memory for each byte of its JSON.
func Costly(n int) []byte {
	col := strings.TrimSuffix(strings.Repeat("0,", n), ",")
	raw := fmt.Sprintf(`{"version":1,"n":%d,"strings":[""],"epochs":["1"],"seq":[%s],"ts":[%s],"kind":[%s]}`, n, col, col, col)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(raw))
	zw.Close()
	return buf.Bytes()
}

// Poison returns a batch of a few readings and an alert whose time is year
// 10000 from a clock its gateway trusts: a receiver must refuse it with a
// 4xx, never a 5xx.
func Poison(epoch uint64, now time.Time) []byte {
	evs := []wire.Event{
		{Epoch: epoch, Seq: 1, Time: now, ClockTrusted: true, Kind: wire.KindReading, Device: "t1", Point: "temp", Value: 21},
		{Epoch: epoch, Seq: 2, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ClockTrusted: true, Kind: wire.KindAlert, Priority: 3,
			Device: "door-1", Alert: &wire.Alert{ID: "door-open/door-1/2", Rule: "door-open", State: wire.AlertFiring, Severity: "high"}},
	}
	b, _ := wire.GzipBatch(evs)
	return b
}
