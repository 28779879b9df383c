// Package natsnode runs a NATS server with JetStream inside the process:
// the single node `edgecentral serve` embeds by default, or one node of a
// three-node cluster (`--cluster-node`). Clients in the process connect to
// it without a socket (Connect).
package natsnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/edge"
)

// Config configures a node. The zero value of every field but Dir is usable.
type Config struct {
	// Name is the server name; in a cluster it is the node's raft identity
	// and must never change for a data directory. Default "edgecentral"
	// (single node) or "edgecentral-N" (ClusterNode N).
	Name string
	// Dir is the data directory; the file store is Dir/jetstream. Required.
	Dir string
	// Listen is the client address (host:port) other processes and the
	// `nats` CLI connect to; "" opens no client port (single node default:
	// the process's own receiver connects in-process).
	Listen string
	// Monitor is the HTTP monitoring address (/varz /jsz /healthz); "" none.
	Monitor string
	// ClusterListen is the route address (host:port) of a cluster node;
	// with Routes it makes the node join the cluster named "edgegw".
	ClusterListen string
	// Routes are the route URLs of every node (nats-route://host:port), its
	// own included.
	Routes []string
	// MaxStore caps the file store in bytes; 0 = the free disk.
	MaxStore int64
	// SyncInterval is how often the file store fsyncs; 0 = every write
	// (sync always: an acknowledged batch is on disk). See docs/central.md.
	SyncInterval time.Duration
	// Logger gets the server's log lines (notices at debug); nil discards.
	Logger *slog.Logger
	// Clock paces the readiness wait; default the system clock.
	Clock edge.Clock
}

// Node is a running embedded server.
type Node struct {
	srv   *server.Server
	cfg   Config
	log   *slog.Logger
	clock edge.Clock
}

// Start starts the server and waits until it accepts connections (not
// until JetStream has a leader in a cluster: see Ready).
func Start(cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("nats node: no data directory: %w", edge.ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = edge.SystemClock{}
	}
	if cfg.Name == "" {
		cfg.Name = "edgecentral"
	}
	o := &server.Options{
		ServerName: cfg.Name, JetStream: true, StoreDir: filepath.Join(cfg.Dir, "jetstream"),
		// Memory storage is unused (0 would mean 75% of RAM); the rest
		// bounds what ingest queues and catch-up may hold (memory of
		// docs/central.md).
		JetStreamMaxMemory: 16 << 20, JetStreamMaxStore: cfg.MaxStore,
		SyncAlways: cfg.SyncInterval <= 0, SyncInterval: syncInterval(cfg.SyncInterval),
		MaxPayload: 1 << 20, JetStreamMaxCatchup: 16 << 20,
		StreamMaxBufferedSize: 16 << 20, StreamMaxBufferedMsgs: 10_000,
		LameDuckDuration: 10 * time.Second, LameDuckGracePeriod: 2 * time.Second,
		NoSigs: true, DisableJetStreamBanner: true,
		DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen %q: %w", cfg.Listen, err)
		}
		o.Host, o.Port = host, port
	}
	if cfg.Monitor != "" {
		host, port, err := splitHostPort(cfg.Monitor)
		if err != nil {
			return nil, fmt.Errorf("nats monitor %q: %w", cfg.Monitor, err)
		}
		o.HTTPHost, o.HTTPPort = host, port
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("nats cluster listen %q: %w", cfg.ClusterListen, err)
		}
		o.Cluster = server.ClusterOpts{Name: "edgegw", Host: host, Port: port}
		o.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w: %w", err, edge.ErrInvalidConfig)
	}
	log := cfg.Logger.With("component", "nats", "node", cfg.Name)
	s.SetLoggerV2(slogNATS{log}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server %s: not ready for connections within 30s (port in use? see the log): %w", cfg.Name, edge.ErrPortInUse)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("nats server %s: JetStream did not start (store %s; see the log): %w", cfg.Name, o.StoreDir, edge.ErrStoreOpen)
	}
	return &Node{srv: s, cfg: cfg, log: log, clock: cfg.Clock}, nil
}

func splitHostPort(a string) (string, int, error) {
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// Server is the running server (Varz, Jsz, Healthz for monitoring).
func (n *Node) Server() *server.Server { return n.srv }

// Clustered reports whether the node is part of a cluster.
func (n *Node) Clustered() bool { return n.cfg.ClusterListen != "" }

// ClientURL is the URL other processes connect to ("" with no client port).
func (n *Node) ClientURL() string {
	if n.cfg.Listen == "" {
		return ""
	}
	return n.srv.ClientURL()
}

// Connect opens an in-process connection (no socket) to the node.
func (n *Node) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(n.srv), nats.Name(n.cfg.Name + "-local"),
		nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded nats server: %w", err)
	}
	return nc, nil
}

// Ready waits until JetStream answers API requests (in a cluster: a meta
// leader is elected, which takes a few seconds after the nodes meet).
func Ready(ctx context.Context, nc *nats.Conn, clock edge.Clock) error {
	if clock == nil {
		clock = edge.SystemClock{}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(cctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if err := edge.Sleep(ctx, clock, 200*time.Millisecond); err != nil {
			return fmt.Errorf("jetstream not ready: %w (last: %v)", err, last)
		}
	}
}

// Close shuts the node down: in a cluster it first hands its leaderships
// over (lame duck mode), so the others do not wait for an election. Close
// every client connection first.
func (n *Node) Close() {
	if n.Clustered() {
		done := make(chan struct{})
		go func() { n.srv.LameDuckShutdown(); close(done) }()
		select {
		case <-done:
		case <-n.clock.After(15 * time.Second):
			n.srv.Shutdown()
		}
	} else {
		n.srv.Shutdown()
	}
	n.srv.WaitForShutdown()
}

// slogNATS routes the server's log into slog. Fatalf must not exit the
// process: Start checks the outcome instead.
type slogNATS struct{ l *slog.Logger }

func (s slogNATS) Noticef(f string, a ...any) { s.l.Debug(fmt.Sprintf(f, a...)) }
func (s slogNATS) Warnf(f string, a ...any)   { s.l.Warn(fmt.Sprintf(f, a...)) }
func (s slogNATS) Fatalf(f string, a ...any)  { s.l.Error(fmt.Sprintf(f, a...)) }
func (s slogNATS) Errorf(f string, a ...any)  { s.l.Error(fmt.Sprintf(f, a...)) }
func (s slogNATS) Debugf(f string, a ...any)  {}
func (s slogNATS) Tracef(f string, a ...any)  {}

// ErrNotReady is returned while JetStream has no leader.
var ErrNotReady = errors.New("jetstream not ready")

// syncInterval is the server's background fsync interval: d, or with
// sync always (d <= 0) one second, for the streams that do not sync every
// write (the single node's northbound stream, docs/central.md).
func syncInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return d
}
