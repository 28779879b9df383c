package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/fakeclock"
	"github.com/edgegw/edgegw/sync/wire"
)

// hostileBody is how a hostile central platform answers.
type hostileBody int

const (
	hugeDeclared hostileBody = iota // 100 MB with its Content-Length
	endless                         // no length, bytes until the client hangs up
	slow                            // a few bytes, then nothing
	hugeError                       // a 500 whose body is 100 MB
)

func (h hostileBody) String() string {
	return [...]string{"huge declared", "endless", "slow", "huge error"}[h]
}

// hostileCentral answers every request the way h says. It signs nothing:
// the client must refuse the body before it would check a signature.
func hostileCentral(t *testing.T, h hostileBody) *httptest.Server {
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = '7'
	}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := 200
		switch h {
		case hugeDeclared:
			w.Header().Set("Content-Length", strconv.Itoa(100<<20))
		case hugeError:
			status = 500
		}
		w.WriteHeader(status)
		if h == slow {
			w.Write(chunk[:10])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		for n := 0; n < 100<<20; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv
}

// TestHostileCentralBoundedMemory: against a central platform that answers
// with huge, endless or slow bodies, every exchange of the uplink ends with
// a clear error, within its limit: the memory it allocates is bounded by
// the protocol's response limits, not by what the central platform sends.
func TestHostileCentralBoundedMemory(t *testing.T) {
	for _, h := range []hostileBody{hugeDeclared, endless, slow, hugeError} {
		t.Run(h.String(), func(t *testing.T) {
			srv := hostileCentral(t, h)
			st, err := store.Open(store.Options{Dir: t.TempDir(), CommitWait: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			key, _ := wire.NewKey()
			timeout := 10 * time.Second // the limits, not the clock, must end these
			if h == slow {
				timeout = 300 * time.Millisecond
			}
			u, err := New(Options{Config: config.Uplink{URL: srv.URL, Key: key.String(),
				Timeout: config.Duration(timeout)}, GatewayID: "gw1", Log: st, State: st})
			if err != nil {
				t.Fatal(err)
			}
			u.c.rc.RetryMax = 0 // one attempt per exchange
			evs := make([]edge.Event, 100)
			for i := range evs {
				evs[i] = edge.Reading("t1", "temp", 21, "C")
			}
			evs, _ = st.Append(context.Background(), evs...)
			for _, ex := range []struct {
				name string
				run  func() error
				max  int64 // the response limit of the exchange
			}{
				{"batch", func() error { _, err := u.post(context.Background(), evs); return err }, wire.MaxAckResponse(len(evs))},
				{"config", func() error { return u.pollConfig(context.Background()) }, wire.MaxConfigResponse},
				{"commands", func() error { return u.pollCommands(context.Background()) }, wire.MaxCommandListResponse},
				{"heartbeat", func() error { return u.heartbeat(context.Background(), time.Now()) }, wire.MaxSmallResponse},
			} {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := ex.run()
				runtime.ReadMemStats(&after)
				alloc := int64(after.TotalAlloc - before.TotalAlloc)
				var ue *Error
				if !errors.As(err, &ue) || !errors.Is(err, ErrTransient) {
					t.Fatalf("%s: got %v, want a transient *Error", ex.name, err)
				}
				switch h {
				case hugeDeclared, endless:
					if !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "more than") {
						t.Errorf("%s: error %q does not say the answer was over its limit", ex.name, err)
					}
				case slow:
					if !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "deadline") {
						t.Errorf("%s: error %q does not say it timed out", ex.name, err)
					}
				case hugeError:
					if ue.Status != 500 {
						t.Errorf("%s: status %d, want 500", ex.name, ue.Status)
					}
				}
				// The body buffer grows by doubling up to the limit: at most
				// about twice the limit; and 24 MiB for the rest of the
				// exchange and the store's background work in this process
				// (a memtable flush may fall in the window). Reading the
				// 100 MB answers would cost far more.
				if bound := 2*ex.max + 24<<20; alloc > bound {
					t.Errorf("%s: allocated %d bytes against a %s answer, want at most %d", ex.name, alloc, h, bound)
				}
			}
			status := u.Status()
			if status.State != edge.SyncUnreachable && status.State != edge.SyncRejecting {
				t.Errorf("state: got %q, want unreachable or rejecting", status.State)
			}
			if status.BacklogEvents != 100 {
				t.Errorf("backlog: got %d, want the 100 events kept", status.BacklogEvents)
			}
		})
	}
}

// TestStates walks the uplink through its states on a fake clock:
// unreachable (nothing listens), rejecting (503s), ok, stalled (the central
// platform answers heartbeats but acknowledges nothing) and ok again, each
// with its since-when; Up is true only in ok.
func TestStates(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	clk := fakeclock.New(t0)
	r := newRigOpts(t, func(c *config.Uplink) { c.StallAfter = config.Duration(time.Minute) }, func(o *Options) { o.Clock = clk })
	if st := r.u.Status(); st.State != edge.SyncConnecting {
		t.Fatalf("before start: got %q, want connecting", st.State)
	}

	// Rejecting: every request 503.
	r.c.fail = func(*http.Request) (int, string) { return 503, "" }
	r.appendReadings(10, "t1")
	r.start()
	eventually(t, "rejecting", func() bool { return r.u.Status().State == edge.SyncRejecting })
	if st := r.u.Status(); !st.StateSince.Equal(t0) || r.u.Up() {
		t.Fatalf("rejecting: since %v (want %v), up %v", st.StateSince, t0, r.u.Up())
	}

	// Stalled: the platform answers, but its acknowledgements cover nothing.
	clk.Advance(time.Second)
	t1 := clk.Now()
	r.c.with(func() { r.c.fail, r.c.ackNone = nil, true })
	clk.Advance(time.Minute) // wakes the loops; the uplink retries at once
	eventually(t, "ok (answering)", func() bool {
		st := r.u.Status()
		return st.State == edge.SyncOK || st.State == edge.SyncStalled
	})
	eventually(t, "a batch not acknowledged", func() bool {
		return strings.Contains(r.u.Status().LastError, "acknowledgement covers 0 of 10")
	})
	clk.Advance(time.Minute)
	st := r.u.Status()
	if st.State != edge.SyncStalled || st.StateSince.Before(t1) || st.StateSince.After(t1.Add(time.Minute)) || r.u.Up() || st.BacklogEvents != 10 {
		t.Fatalf("stalled: got %q since %v (want stalled since about %v), backlog %d, up %v", st.State, st.StateSince, t1, st.BacklogEvents, r.u.Up())
	}
	if st.Reachable != true {
		t.Errorf("stalled: reachable %v, want true (it answers)", st.Reachable)
	}

	// OK again: acknowledgements come back; the state says since when.
	r.c.with(func() { r.c.ackNone = false })
	for r.u.Status().BacklogEvents > 0 { // wake the upload's backoff on the fake clock
		clk.BlockUntil(1, 50*time.Millisecond)
		clk.Advance(time.Second)
	}
	st = r.u.Status()
	if st.State != edge.SyncOK || !r.u.Up() || st.StateSince.Before(t1.Add(2*time.Minute)) {
		t.Fatalf("after: got %q since %v, up %v; want ok since the backlog moved", st.State, st.StateSince, r.u.Up())
	}

	// Unreachable: nothing listens any more.
	r.c.srv.Close()
	r.appendReadings(1, "t1")
	for r.u.Status().State != edge.SyncUnreachable {
		clk.BlockUntil(1, 50*time.Millisecond)
		clk.Advance(time.Second)
	}
	if up := r.u.Up(); up {
		t.Fatal("unreachable: Up true")
	}
	r.u.SetPaused(true)
	if st := r.u.Status(); st.State != edge.SyncPaused || !st.StateSince.Equal(clk.Now()) {
		t.Fatalf("paused: got %q since %v", st.State, st.StateSince)
	}
}

// TestDiagnosticsLimit: a diagnostics bundle over the protocol's limit is
// answered with a clear failure, not uploaded.
func TestDiagnosticsLimit(t *testing.T) {
	r := newRig(t, nil)
	res := r.u.execute(context.Background(), wire.Command{ID: 1, Type: wire.CmdSendDiagnostics})
	if !res.OK || string(res.Attachment) != "PK-zip" {
		t.Fatalf("small bundle: got %+v", res)
	}
	r.u.o.Controller = bigDiag{r.ctl}
	res = r.u.execute(context.Background(), wire.Command{ID: 2, Type: wire.CmdSendDiagnostics})
	if res.OK || len(res.Attachment) != 0 || !strings.Contains(res.Error, "over the limit") {
		t.Fatalf("big bundle: got ok=%v error %q, %d bytes", res.OK, res.Error, len(res.Attachment))
	}
	js, _ := json.Marshal(res)
	if len(js) > 1000 {
		t.Errorf("the refusal is %d bytes", len(js))
	}
}

type bigDiag struct{ *fakeController }

func (bigDiag) Diagnostics(context.Context) ([]byte, error) {
	return make([]byte, wire.MaxAttachment+1), nil
}
