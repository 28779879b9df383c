// Package central wires `edgecentral serve`: the JetStream node (embedded
// single node, one node of an embedded three-node cluster, or an external
// cluster), the JetStream store, the receiver, and the HTTP server with
// /metrics, /healthz and /readyz. An existing Badger data directory is
// still served by the Badger store.
package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/natsnode"
	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/receiver/jsstore"
)

// Store kinds.
const (
	StoreAuto      = "auto"      // badger when the data directory holds a Badger store, else jetstream
	StoreJetStream = "jetstream" // NATS JetStream (embedded or external)
	StoreBadger    = "badger"    // the embedded Badger store (one process, no cluster)
)

// Options configure Start and OpenStore.
type Options struct {
	Data  string // data directory (embedded node's file store, or Badger)
	Store string // StoreAuto (default), StoreJetStream or StoreBadger

	// NATS are the URLs of an external cluster; none embeds a node.
	NATS []string
	// ClusterNode N (1-3) embeds node N of a three-node cluster; Routes are
	// the route URLs of all nodes, ClusterListen this node's route address.
	ClusterNode   int
	Routes        []string
	ClusterListen string
	// NATSListen is the embedded node's client address ("" none; required
	// for a cluster node so that the other receivers and tools connect).
	NATSListen string
	// NATSMonitor is the embedded node's monitoring address ("" none).
	NATSMonitor string
	// Replicas of the streams: default 1 embedded, 3 in a cluster.
	Replicas int
	// SyncInterval of the embedded node's file store: 0 = always.
	SyncInterval time.Duration
	// MaxStore caps the embedded node's store; Retention and MaxBytes the
	// events stream.
	MaxStore, MaxBytes int64
	Retention          time.Duration

	Addr, TLSCert, TLSKey, AdminToken string
	Receiver                          receiver.Options
	// Exporters run on the JetStream store once it is open, each on its
	// durable consumer (docs/central.md, northbound exporters); a Badger
	// store has no stream to export from.
	Exporters []export.Exporter
	Logger    *slog.Logger
	Clock     edge.Clock
}

// Backend is an open store with what it runs on.
type Backend struct {
	Store receiver.Storage
	JS    *jsstore.Store // nil for Badger
	Node  *natsnode.Node // nil unless embedded
	Conn  *nats.Conn
}

// Close closes the store, the connection and the node, in that order.
func (b *Backend) Close() error {
	err := b.Store.Close()
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.Node != nil {
		b.Node.Close()
	}
	return err
}

func (o *Options) kind() string {
	switch o.Store {
	case StoreBadger, StoreJetStream:
		return o.Store
	}
	if len(o.NATS) > 0 || o.ClusterNode > 0 {
		return StoreJetStream
	}
	if _, err := os.Stat(filepath.Join(o.Data, "MANIFEST")); err == nil {
		if _, err := os.Stat(filepath.Join(o.Data, "jetstream")); err != nil {
			return StoreBadger
		}
	}
	return StoreJetStream
}

// Validate checks the combination of options.
func (o *Options) Validate() error {
	switch {
	case o.Store != "" && o.Store != StoreAuto && o.Store != StoreBadger && o.Store != StoreJetStream:
		return fmt.Errorf("--store %q: want auto, jetstream or badger: %w", o.Store, edge.ErrInvalidConfig)
	case len(o.NATS) > 0 && o.ClusterNode > 0:
		return fmt.Errorf("--nats and --cluster-node: give one (an external cluster, or a node of an embedded one): %w", edge.ErrInvalidConfig)
	case o.ClusterNode < 0 || o.ClusterNode > 9:
		return fmt.Errorf("--cluster-node %d: want 1, 2 or 3: %w", o.ClusterNode, edge.ErrInvalidConfig)
	case o.ClusterNode > 0 && (len(o.Routes) < 2 || o.ClusterListen == ""):
		return fmt.Errorf("--cluster-node needs --cluster-listen and --routes with every node's route URL: %w", edge.ErrInvalidConfig)
	case o.kind() == StoreBadger && (len(o.NATS) > 0 || o.ClusterNode > 0):
		return fmt.Errorf("--store badger runs no NATS: leave out --nats and --cluster-node: %w", edge.ErrInvalidConfig)
	case len(o.NATS) == 0 && o.Data == "":
		return fmt.Errorf("--data DIR is required: %w", edge.ErrInvalidConfig)
	case len(o.Exporters) > 0 && o.kind() == StoreBadger:
		return fmt.Errorf("--export-*: the exporters need the JetStream store, this data directory is Badger's: %w", edge.ErrInvalidConfig)
	}
	return nil
}

// OpenStore opens the store the options name, waiting (until ctx ends) for
// JetStream to be ready.
func OpenStore(ctx context.Context, o Options) (*Backend, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	if o.kind() == StoreBadger {
		st, err := receiver.OpenBadger(o.Data, o.Logger)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, edge.ErrStoreOpen)
		}
		return &Backend{Store: st}, nil
	}
	b := &Backend{}
	replicas := o.Replicas
	var err error
	if len(o.NATS) > 0 {
		b.Conn, err = nats.Connect(strings.Join(o.NATS, ","), nats.Name("edgecentral"), nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("connect to nats %s: %w", strings.Join(o.NATS, ","), err)
		}
		if replicas == 0 {
			replicas = 3
		}
	} else {
		cfg := natsnode.Config{Dir: o.Data, Listen: o.NATSListen, Monitor: o.NATSMonitor, MaxStore: o.MaxStore,
			SyncInterval: o.SyncInterval, Logger: o.Logger, Clock: o.Clock}
		if o.ClusterNode > 0 {
			cfg.Name = fmt.Sprintf("edgecentral-%d", o.ClusterNode)
			cfg.ClusterListen, cfg.Routes = o.ClusterListen, o.Routes
			if replicas == 0 {
				replicas = 3
			}
		}
		if b.Node, err = natsnode.Start(cfg); err != nil {
			return nil, err
		}
		if b.Conn, err = b.Node.Connect(); err != nil {
			b.Node.Close()
			return nil, err
		}
	}
	if replicas == 0 {
		replicas = 1
	}
	if err := natsnode.Ready(ctx, b.Conn, o.Clock); err != nil {
		b.closeConn()
		return nil, err
	}
	b.JS, err = jsstore.Open(ctx, jsstore.Options{Conn: b.Conn, Replicas: replicas, Retention: o.Retention,
		MaxBytes: o.MaxBytes, Clock: o.Clock, Logger: o.Logger.With("component", "jsstore")})
	if err != nil {
		b.closeConn()
		return nil, err
	}
	b.Store = b.JS
	return b, nil
}

func (b *Backend) closeConn() {
	b.Conn.Close()
	if b.Node != nil {
		b.Node.Close()
	}
}

// MemoryLimit is the soft Go memory limit of an edgecentral that embeds a
// NATS node (docs/central.md, memory): the node's file store caches and
// catch-up buffers come on top of the receiver's budget.
const MemoryLimit = 192 << 20

// Server is a running edgecentral.
type Server struct {
	Backend *Backend
	log     *slog.Logger
	ln      net.Listener
	http    *http.Server
	tls     bool
	ready   atomic.Bool
	handler atomic.Pointer[http.Handler]
	done    chan error
	opened  chan error
	cancel  context.CancelFunc
	exports gosync.WaitGroup
}

// Start listens at once (so /healthz and /readyz answer while a cluster
// forms) and opens the store in the background; Opened tells when it is
// open. Until then every other request is answered 503 with Retry-After.
func Start(o Options) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8700"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, fmt.Errorf("tls: give both the certificate and the key file, or neither: %w", edge.ErrInvalidConfig)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if o.kind() == StoreBadger || len(o.NATS) > 0 {
			debug.SetMemoryLimit(receiver.MemoryLimit)
		} else {
			debug.SetMemoryLimit(MemoryLimit)
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w: %w", o.Addr, err, edge.ErrPortInUse)
	}
	s := &Server{log: o.Logger, ln: ln, tls: o.TLSCert != "", done: make(chan error, 1), opened: make(chan error, 1)}
	mux := http.NewServeMux()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready: the store is not open or JetStream is not connected", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if h := s.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"edgecentral is starting: the store is not open yet","code":"overloaded"}` + "\n"))
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	go func() {
		var err error
		if s.tls {
			err = s.http.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			err = s.http.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		b, err := OpenStore(ctx, o)
		if err == nil {
			ro := o.Receiver
			ro.Store, ro.Logger, ro.AdminToken = b.Store, o.Logger, o.AdminToken
			var rcv *receiver.Receiver
			if rcv, err = receiver.New(ro); err == nil {
				if b.JS != nil {
					err = b.JS.Register(reg)
					reg.MustRegister(jsstore.NewLagCollector(b.JS))
					for _, e := range o.Exporters {
						if err == nil {
							err = e.Metrics().Register(reg, e.Name())
						}
					}
					if err == nil {
						s.runNorthbound(ctx, o, b)
					}
				}
				if err == nil {
					s.runExporters(ctx, o, b)
				}
				var h http.Handler = rcv
				s.Backend = b
				s.handler.Store(&h)
				s.ready.Store(true)
			} else {
				b.Close()
			}
		}
		s.opened <- err
	}()
	return s, nil
}

// runNorthbound runs the JSON northbound projector for the district
// platform (EDGEGW_NB, docs/central.md), restarting it when it fails;
// Close waits for it before it closes the store.
func (s *Server) runNorthbound(ctx context.Context, o Options, b *Backend) {
	clk := o.Clock
	if clk == nil {
		clk = edge.SystemClock{}
	}
	log := o.Logger.With("component", "northbound")
	s.exports.Add(1)
	go func() {
		defer s.exports.Done()
		for ctx.Err() == nil {
			if err := b.JS.Northbound(ctx, log); err != nil && ctx.Err() == nil {
				log.Warn("northbound projector stopped; restarting", "error", err)
				_ = edge.Sleep(ctx, clk, 5*time.Second)
			}
		}
	}()
}

// runExporters starts the exporters; Close waits for them before it
// closes the store.
func (s *Server) runExporters(ctx context.Context, o Options, b *Backend) {
	if b.JS == nil || len(o.Exporters) == 0 {
		return // Validate refused exporters on a Badger store
	}
	js := b.JS.JetStream()
	for _, e := range o.Exporters {
		s.exports.Add(1)
		go func() {
			defer s.exports.Done()
			o.Logger.Info("exporter started", "consumer", e.Name())
			if err := e.Run(ctx, js); err != nil {
				o.Logger.Error("exporter stopped", "consumer", e.Name(), "error", err)
			}
		}()
	}
}

// Opened delivers the outcome of opening the store, once.
func (s *Server) Opened() <-chan error { return s.opened }

// Ready reports whether the store is open and its connection up.
func (s *Server) Ready() bool {
	if !s.ready.Load() {
		return false
	}
	if c := s.Backend.Conn; c != nil {
		return c.Status() == nats.CONNECTED
	}
	return true
}

// URL is the base URL gateways use.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Done delivers the serve error (nil after Close).
func (s *Server) Done() <-chan error { return s.done }

// Close stops accepting requests, waits (until ctx ends) for those in
// flight, then closes the store, the connection and the node.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	s.exports.Wait()
	if s.ready.Load() {
		if cerr := s.Backend.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
