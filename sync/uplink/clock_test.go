package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// shiftedClock is the real clock moved by d (with its monotonic reading):
// a box whose wall clock is wrong but ticks.
type shiftedClock struct{ d time.Duration }

func (c shiftedClock) Now() time.Time                         { return time.Now().Add(c.d) }
func (c shiftedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// testBoot is a boot that started at start (real time).
type testBoot struct {
	id    string
	start time.Time
}

func (b testBoot) Boot() (string, time.Duration) { return b.id, time.Since(b.start) }

// TestClock1970EventsGetCorrectedTimes: a box without an RTC boots with
// its clock in 1970. Its events are recorded untrusted (before the clock
// floor) with the boot anchor; its first requests, signed with a 1970
// time, are answered 401 clock_window by the real receiver, whose Date
// header gives the skew; the retries, signed with the corrected time, get
// through. Once a heartbeat told the central the boot's monotonic time,
// the central serves the events with ts_corrected near the true time.
func TestClock1970EventsGetCorrectedTimes(t *testing.T) {
	srv, key := startReceiver(t)
	clk := shiftedClock{d: -time.Since(time.Unix(600, 0))} // ten minutes past 1970
	boot := testBoot{id: "9a8b7c6d-0000-4000-8000-123456789abc", start: time.Now().Add(-10 * time.Minute)}
	judge := &edge.ClockJudge{Clock: clk, Floor: edge.NewClockFloor(), Boot: boot}
	st, err := store.Open(store.Options{Dir: t.TempDir(), CommitWait: time.Millisecond, Judge: judge, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, st: st, ctl: &fakeController{}, judge: judge, logBuf: &syncBuffer{}}
	cfg := config.Uplink{
		URL: srv.URL(), Key: key.String(), MaxEvents: 200, MaxAge: config.Duration(20 * time.Millisecond),
		RetryMax: 2, RetryWaitMin: config.Duration(10 * time.Millisecond), RetryWaitMax: config.Duration(50 * time.Millisecond),
		RetryAfterCap: config.Duration(time.Second), Timeout: config.Duration(5 * time.Second),
		PollInterval: config.Duration(50 * time.Millisecond), HeartbeatInterval: config.Duration(50 * time.Millisecond),
	}
	logger := slog.New(slog.NewTextHandler(r.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.u, err = New(Options{Config: cfg, GatewayID: "gw1", Log: st, State: st, Controller: r.ctl, Judge: judge,
		Logger: logger, Version: "test", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	appended := time.Now()
	evs := r.appendReadings(30, "t1")
	for _, e := range evs {
		if e.ClockTrusted || e.Time.Year() != 1970 || e.Boot != boot.id || e.Mono < 10*time.Minute {
			t.Fatalf("event %d: ts %v trusted %v anchor %q %v; want 1970, untrusted, anchored 10 min into the boot",
				e.Seq, e.Time, e.ClockTrusted, e.Boot, e.Mono)
		}
	}
	r.start()
	eventually(t, "the events stored", func() bool {
		gs, err := srv.Store().Gateways()
		return err == nil && len(gs) == 1 && gs[0].Events == uint64(len(evs))
	})
	if srvRefused(srv, wire.CodeClockWindow) == 0 {
		t.Error("the receiver never answered clock_window: the test did not start from a 1970 signature")
	}
	if d, ok := judge.Skew(); !ok || d < 50*365*24*time.Hour {
		t.Errorf("skew %v %v, want some 56 years", d, ok)
	}
	var got []wire.Event
	eventually(t, "ts_corrected on every event", func() bool {
		code, b := adminGet(t, srv.URL()+"/v1/admin/events?gateway=gw1")
		var page receiver.EventsPage
		if code != 200 || json.Unmarshal(b, &page) != nil || len(page.Events) != len(evs) {
			return false
		}
		got = got[:0]
		for i := range page.Events {
			e, err := page.Events[i].Decode()
			if err != nil || e.TimeCorrected.IsZero() {
				return false
			}
			got = append(got, e)
		}
		return true
	})
	for _, e := range got {
		if d := e.TimeCorrected.Sub(appended); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("event %d: ts_corrected %v, want about %v (when it was recorded)", e.Seq, e.TimeCorrected, appended)
		}
		if e.ClockTrusted || e.Time.Year() != 1970 {
			t.Errorf("event %d: ts %v trusted %v, want the gateway's 1970 time, untrusted", e.Seq, e.Time, e.ClockTrusted)
		}
	}
	if strings.Contains(r.logBuf.String(), "quarantin") {
		t.Errorf("a batch was quarantined:\n%s", r.logBuf.String())
	}
}

// selfSigned makes a certificate for 127.0.0.1 valid from notBefore to
// notAfter, and its PEM (the CA file of the uplink).
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "central"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestClockFloorIsTheTLSTime: the uplink checks the central's certificate
// at max(now, clock floor). A box whose clock says 1970 accepts a
// certificate valid now (which 1970 would call not yet valid) and refuses
// one that expired before the floor (which 1970 would accept).
func TestClockFloorIsTheTLSTime(t *testing.T) {
	floor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	in1970 := shiftedClock{d: -time.Since(time.Unix(3600, 0))}
	for _, tc := range []struct {
		name              string
		notBefore, notAfr time.Time
		floor             *edge.ClockFloor
		wantHandshake     bool
	}{
		{"valid at the floor", floor.Add(-24 * time.Hour), floor.Add(365 * 24 * time.Hour), edge.NewClockFloor(floor), true},
		{"valid at the floor, no floor", floor.Add(-24 * time.Hour), floor.Add(365 * 24 * time.Hour), nil, false},
		{"expired before the floor", time.Unix(0, 0), time.Unix(86400*30, 0), edge.NewClockFloor(floor), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, caPEM := selfSigned(t, tc.notBefore, tc.notAfr)
			var hits atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			judge := &edge.ClockJudge{Clock: in1970, Floor: tc.floor}
			r := newRigOpts(t, func(c *config.Uplink) { c.URL, c.CAFile = srv.URL, ca },
				func(o *Options) { o.Judge, o.Clock = judge, in1970 })
			r.appendReadings(3, "t1")
			r.start()
			if tc.wantHandshake {
				eventually(t, "a request past the handshake", func() bool { return hits.Load() > 0 })
				return
			}
			eventually(t, "a certificate error", func() bool {
				return strings.Contains(r.u.Status().LastError, "certificate")
			})
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests got past the handshake", n)
			}
		})
	}
}
