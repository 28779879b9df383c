package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/uplink"
	"github.com/edgegw/edgegw/sync/wire"
)

// hostileCentralRun is one mode of `edgebench hostile-central`.
type hostileCentralRun struct {
	Mode       string  `json:"mode"`
	Seconds    float64 `json:"seconds"`
	Requests   int64   `json:"requests"`         // the uplink's requests the hostile central answered
	SentMiB    float64 `json:"central_sent_mib"` // what the hostile central managed to send
	BaseRSSMiB float64 `json:"gateway_rss_before_mib"`
	PeakRSSMiB float64 `json:"gateway_peak_rss_mib"` // VmHWM of this process during the mode
	State      string  `json:"state"`
	LastError  string  `json:"last_error"`
	Backlog    uint64  `json:"backlog"`
}

func init() {
	var (
		modes  string
		dur    time.Duration
		size   int64
		asJSON bool
		dir    string
	)
	app.Register(&cli.Command{
		Name:  "hostile-central",
		Short: "the real uplink against a hostile central platform (huge, endless, slow answers): the gateway's peak RSS",
		Usage: `Runs the real uplink (store in a temp dir, 10,000 events of backlog) for
--for against a central platform on 127.0.0.1 that answers every request
(batches, config, commands, heartbeats) with:

  down     nothing: nothing listens (the uplink's own memory, to compare)
  huge     a 200 status and a --size body with its Content-Length
  endless  a 200 status and a body without length that never ends
  error    a 500 status and a --size body
  slow     a 200 status, 10 bytes, then nothing

and prints, for each, this process's peak RSS (VmHWM), the requests made,
what the central platform managed to send, and the uplink's state and last
error. Target: peak RSS bounded by the protocol's response limits (a few
MiB over the idle gateway), whatever the central platform sends.

Example:
  edgebench hostile-central --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&modes, "modes", "down,huge,endless,error,slow", "modes to run, in order")
			fs.DurationVar(&dur, "for", 10*time.Second, "length of each mode")
			fs.Int64Var(&size, "size", 100_000_000, "body size of huge and error answers, bytes")
			fs.StringVar(&dir, "dir", "", "parent directory for the temp store (default $TMPDIR)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object per mode")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			for _, m := range splitComma(modes) {
				r, err := runHostileCentral(ctx, m, dur, size, dir)
				if err != nil {
					return err
				}
				if asJSON {
					b, _ := json.Marshal(r)
					fmt.Fprintln(env.Stdout, string(b))
					continue
				}
				fmt.Fprintf(env.Stdout, "%-8s %d requests, central sent %.0f MiB; gateway RSS %.1f MiB before, peak %.1f MiB; state %s; backlog %d; last error: %s\n",
					r.Mode, r.Requests, r.SentMiB, r.BaseRSSMiB, r.PeakRSSMiB, r.State, r.Backlog, r.LastError)
			}
			return nil
		},
	})
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}

func runHostileCentral(ctx context.Context, mode string, dur time.Duration, size int64, parent string) (*hostileCentralRun, error) {
	switch mode {
	case "down", "huge", "endless", "error", "slow":
	default:
		return nil, fmt.Errorf("%w: mode %q: want down, huge, endless, error or slow", cli.ErrUsage, mode)
	}
	tmp, err := os.MkdirTemp(parent, "edgebench-hostile-central-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &hostileCentralRun{Mode: mode}

	var requests, sent atomic.Int64
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = '7'
	}
	hctx, stopCentral := context.WithCancel(ctx)
	defer stopCentral()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		status := 200
		switch mode {
		case "huge":
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		case "error":
			status = 500
		}
		w.WriteHeader(status)
		if mode == "slow" {
			w.Write(chunk[:10])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-hctx.Done():
			}
			return
		}
		for n := int64(0); mode == "endless" || n < size; {
			b := chunk
			if mode != "endless" && size-n < int64(len(b)) {
				b = b[:size-n]
			}
			k, err := w.Write(b)
			n += int64(k)
			sent.Add(int64(k))
			if err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if mode == "down" { // nothing listens: the uplink's own memory, for comparison
		ln.Close()
	} else {
		go srv.Serve(ln)
		defer srv.Close()
	}

	st, err := store.Open(store.Options{Dir: filepath.Join(tmp, "gateway")})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	evs := make([]edge.Event, 10000)
	for i := range evs {
		evs[i] = edge.Reading("t1", "temp", 21, "C")
	}
	if _, err := st.Append(ctx, evs...); err != nil {
		return nil, err
	}
	key, _ := wire.NewKey()
	up, err := uplink.New(uplink.Options{
		Config: config.Uplink{URL: "http://" + ln.Addr().String(), Key: key.String(), RetryWaitMin: config.Duration(100 * time.Millisecond),
			RetryWaitMax: config.Duration(time.Second), PollInterval: config.Duration(time.Second), HeartbeatInterval: config.Duration(time.Second),
			Timeout: config.Duration(5 * time.Second)},
		GatewayID: "gw1", Log: st, State: st, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	res.BaseRSSMiB = procMiB(os.Getpid(), "VmRSS:")
	uctx, stop := context.WithTimeout(ctx, dur)
	defer stop()
	t0 := time.Now()
	up.Run(uctx)
	res.Seconds = time.Since(t0).Seconds()
	res.PeakRSSMiB = peakRSSMiB(os.Getpid())
	s := up.Status()
	res.State, res.LastError, res.Backlog = s.State, s.LastError, s.BacklogEvents
	res.Requests, res.SentMiB = requests.Load(), float64(sent.Load())/(1<<20)
	return res, nil
}
