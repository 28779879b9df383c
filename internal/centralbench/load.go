package centralbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// FreePorts returns n distinct free TCP ports of 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// Batch is one pre-encoded (gzipped) batch of a gateway.
type Batch struct {
	Body []byte
	N    int // events in it
}

// Gateway is a simulated gateway: its id, key, place and backlog.
type Gateway struct {
	ID      string
	Place   string
	Key     wire.Key
	Batches []Batch
}

// Events is the number of events of the gateway's backlog.
func (g *Gateway) Events() int {
	n := 0
	for _, b := range g.Batches {
		n += b.N
	}
	return n
}

// Gateways makes n gateways gw-0000... with a place each (4 streets x 5
// committees x a compound each) and a backlog of perGW readings in batches
// of batchN, gateway g in epoch 1,000,000+g; t0 is the first event's time.
func Gateways(n, perGW, batchN int, t0 time.Time) ([]Gateway, error) {
	gws := make([]Gateway, n)
	for g := range n {
		gws[g] = Gateway{ID: fmt.Sprintf("gw-%04d", g), Place: fmt.Sprintf("putuo/street%d/c%02d/cp%03d", g%4, g%20, g)}
		epoch := uint64(1_000_000 + g)
		for from := 1; from <= perGW; from += batchN {
			k := min(batchN, perGW-from+1)
			evs := make([]wire.Event, k)
			for i := range evs {
				seq := uint64(from + i)
				evs[i] = wire.Event{Epoch: epoch, Seq: seq, Time: t0.Add(time.Duration(seq) * 100 * time.Millisecond),
					ClockTrusted: true, Kind: wire.KindReading, Device: fmt.Sprintf("b%d-temp-%d", seq%6, seq%11),
					Point: "temperature", Value: 18 + float64(seq%97)/10, Unit: "°C"}
			}
			body, err := wire.GzipBatch(evs)
			if err != nil {
				return nil, err
			}
			gws[g].Batches = append(gws[g].Batches, Batch{body, k})
		}
	}
	return gws, nil
}

// Register adds the gateways at the admin API of base (a loopback client
// needs no token) and sets their keys; a refused request (the cluster still
// forming) is retried for up to a minute.
func Register(ctx context.Context, cl *http.Client, base string, gws []Gateway, clock edge.Clock) error {
	if clock == nil {
		clock = edge.SystemClock{}
	}
	for i := range gws {
		body, _ := json.Marshal(receiver.AddGatewayRequest{ID: gws[i].ID, Place: gws[i].Place})
		var out receiver.AddGatewayResponse
		bo := edge.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Clock: clock}
		deadline := clock.Now().Add(time.Minute)
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/admin/gateways", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(req)
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					if err = json.Unmarshal(b, &out); err == nil {
						break
					}
				} else {
					err = fmt.Errorf("%s: %s", resp.Status, b)
				}
			}
			if clock.Now().After(deadline) {
				return fmt.Errorf("add gateway %s: %w", gws[i].ID, err)
			}
			if err := bo.Wait(ctx); err != nil {
				return err
			}
		}
		gws[i].Key = out.Key
	}
	return nil
}

// StatusError is a batch answered with another status than 200.
type StatusError struct {
	Code       int
	RetryAfter string
	Body       string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// PostBatch uploads one signed, gzipped batch body to base.
func PostBatch(ctx context.Context, cl *http.Client, base, gateway string, key wire.Key, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.PathBatches, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentTypeBatch)
	req.Header.Set("Content-Encoding", "gzip")
	wire.SignRequest(req, gateway, key, body, now)
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Code: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Body: string(b)}
	}
	return nil
}

// Load is an upload run: posters concurrent uploaders share the gateways,
// each uploads one batch of each of its gateways in turn (a gateway has one
// batch in flight at most); a refused or failed batch is retried on the
// next receiver after a short backoff.
type Load struct {
	Gateways []Gateway
	Posters  int
	// URL is the receiver for attempt a of gateway g: URL(g + a).
	URL    func(i int) string
	Client *http.Client
	Clock  edge.Clock
	// OnAck is called after each acknowledged batch with the events
	// acknowledged so far.
	OnAck func(events int64)
}

// LoadResult is what an upload run saw.
type LoadResult struct {
	Events, Batches int64
	Retries         int64            // answers other than 200 and failed requests, each retried
	Failures        map[string]int64 // by kind: the status code, "connection" or "timeout"
	NoRetryAfter    int64            // 429 and 503 answers without Retry-After
	LongestStall    time.Duration    // longest time without any acknowledged batch
	SlowestRequest  time.Duration    // longest single request, answered or failed
	Seconds         float64
}

// Upload runs the load until every batch is acknowledged or ctx ends.
func Upload(ctx context.Context, l Load) (*LoadResult, error) {
	clock := l.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	var (
		events, batches, retries, noRA atomic.Int64
		lastAck, longest, slowest      atomic.Int64
		mu                             gosync.Mutex
		failures                       = map[string]int64{}
	)
	lastAck.Store(clock.Now().UnixNano())
	raise := func(v *atomic.Int64, d int64) {
		for {
			old := v.Load()
			if d <= old || v.CompareAndSwap(old, d) {
				return
			}
		}
	}
	start := clock.Now()
	var wg gosync.WaitGroup
	for p := range max(1, l.Posters) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := map[int]int{}
			var mine []int
			for g := p; g < len(l.Gateways); g += max(1, l.Posters) {
				if len(l.Gateways[g].Batches) > 0 {
					mine = append(mine, g)
				}
			}
			for len(mine) > 0 {
				var keep []int
				for _, g := range mine {
					gw := &l.Gateways[g]
					b := gw.Batches[next[g]]
					bo := edge.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond, Clock: clock}
					for attempt := 0; ; attempt++ {
						t := clock.Now()
						err := PostBatch(ctx, l.Client, l.URL(g+attempt), gw.ID, gw.Key, b.Body, t)
						raise(&slowest, int64(clock.Now().Sub(t)))
						if err == nil {
							break
						}
						if ctx.Err() != nil {
							return
						}
						retries.Add(1)
						kind := "connection"
						var se *StatusError
						var ne net.Error
						switch {
						case errors.As(err, &se):
							kind = strconv.Itoa(se.Code)
							if (se.Code == 429 || se.Code == 503) && se.RetryAfter == "" {
								noRA.Add(1)
							}
						case errors.As(err, &ne) && ne.Timeout():
							kind = "timeout"
						}
						mu.Lock()
						failures[kind]++
						mu.Unlock()
						if bo.Wait(ctx) != nil {
							return
						}
					}
					now := clock.Now().UnixNano()
					raise(&longest, now-lastAck.Swap(now))
					batches.Add(1)
					n := events.Add(int64(b.N))
					if l.OnAck != nil {
						l.OnAck(n)
					}
					if next[g]++; next[g] < len(gw.Batches) {
						keep = append(keep, g)
					}
				}
				mine = keep
			}
		}()
	}
	wg.Wait()
	r := &LoadResult{Events: events.Load(), Batches: batches.Load(), Retries: retries.Load(), Failures: failures,
		NoRetryAfter: noRA.Load(), LongestStall: time.Duration(longest.Load()), SlowestRequest: time.Duration(slowest.Load()),
		Seconds: clock.Now().Sub(start).Seconds()}
	return r, ctx.Err()
}
