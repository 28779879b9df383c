package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/internal/central"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/export/mqtt"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

type serveFlags struct {
	listen, data, tlsCert, tlsKey, adminToken, logLevel string
	maxBody, maxDecoded, memoryBudget                   int64
	gatewayRate                                         float64
	gatewayBurst                                        int
	replayWindow, drain                                 time.Duration
	store, nats, routes, clusterListen, natsListen      string
	natsMonitor, natsSync                               string
	clusterNode, replicas                               int
	retention                                           time.Duration
	maxStore                                            int64
	releaseKey                                          string
	export                                              exportFlags
}

var serveOpts *serveFlags

func (o *serveFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "listen", o.listen, "address to listen on; 0.0.0.0:8700 for all interfaces")
	fs.StringVar(&o.data, "data", o.data, "data directory (the embedded JetStream node's files, or a Badger store an older edgecentral made); created if missing (default: ./edgecentral-data, unless --nats)")
	fs.StringVar(&o.tlsCert, "tls-cert", o.tlsCert, "PEM certificate file: serve HTTPS (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", o.tlsKey, "PEM private key file of --tls-cert")
	fs.StringVar(&o.adminToken, "admin-token", o.adminToken, "require this bearer token on the admin API; without it the admin API answers loopback clients only (default: $EDGECENTRAL_ADMIN_TOKEN)")
	fs.Int64Var(&o.maxBody, "max-body", o.maxBody, "largest request body accepted, in bytes (compressed)")
	fs.Int64Var(&o.maxDecoded, "max-decoded", o.maxDecoded, "largest decompressed batch, in bytes (stops gzip bombs)")
	fs.Int64Var(&o.memoryBudget, "memory-budget", o.memoryBudget, "bytes all requests in flight may hold at once (bodies, decompressed and decoded batches); more is answered 503 with Retry-After")
	fs.Float64Var(&o.gatewayRate, "gateway-rate", o.gatewayRate, "requests per second each gateway may send; more is answered 429 with Retry-After")
	fs.IntVar(&o.gatewayBurst, "gateway-burst", o.gatewayBurst, "requests a gateway may send at once above --gateway-rate")
	fs.DurationVar(&o.replayWindow, "replay-window", o.replayWindow, "how far a request's timestamp may be from this server's clock")
	fs.DurationVar(&o.drain, "drain", o.drain, "on SIGINT/SIGTERM, how long requests in flight may take to finish")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "debug, info, warn or error")
	fs.StringVar(&o.store, "store", o.store, "auto (JetStream, or Badger for a data directory Badger made), jetstream or badger")
	fs.StringVar(&o.nats, "nats", o.nats, "join an external NATS JetStream cluster: its URLs, comma-separated (nats://a:4222,nats://b:4222,nats://c:4222); none embeds a node")
	fs.IntVar(&o.clusterNode, "cluster-node", o.clusterNode, "embed node N (1, 2 or 3) of a three-node JetStream cluster (with --routes, --cluster-listen, --nats-listen)")
	fs.StringVar(&o.routes, "routes", o.routes, "route URLs of every node of the embedded cluster, comma-separated (nats-route://127.0.0.1:6222,...)")
	fs.StringVar(&o.clusterListen, "cluster-listen", o.clusterListen, "this node's route address (host:port)")
	fs.StringVar(&o.natsListen, "nats-listen", o.natsListen, "the embedded node's client address (host:port) for other receivers and the nats CLI; default none (in-process only)")
	fs.StringVar(&o.natsMonitor, "nats-monitor", o.natsMonitor, "the embedded node's monitoring address (host:port: /varz /jsz /healthz); default none")
	fs.StringVar(&o.natsSync, "nats-sync", o.natsSync, "how often the embedded node fsyncs its store: always (an acknowledged batch is on disk) or a duration such as 1s (docs/central.md)")
	fs.IntVar(&o.replicas, "replicas", o.replicas, "replicas of the streams: default 1 embedded, 3 with --nats or --cluster-node")
	fs.DurationVar(&o.retention, "retention", o.retention, "how long events are kept in JetStream")
	fs.Int64Var(&o.maxStore, "max-store", o.maxStore, "bytes the events may take in JetStream; when full, batches are answered 503 and gateways keep their backlog (0: no cap)")
	fs.StringVar(&o.releaseKey, "release-key", o.releaseKey, "file of trusted release public keys (ed25519:<keyid>:<base64>, one per line): release push then refuses a manifest none of them signed (default: any well-formed signed manifest; the gateways check the signature)")
	o.export.bind(fs)
}

// releaseKeys reads the --release-key file: one public key a line, blank
// lines and # comments skipped.
func releaseKeys(path string) ([]wire.ReleasePublicKey, error) {
	if path == "" {
		return nil, nil
	}
	keys, err := wire.ReadReleasePublicKeys(path)
	if err != nil {
		return nil, fmt.Errorf("--release-key: %w", err)
	}
	return keys, nil
}

// centralOptions maps the NATS flags onto central.Options.
func (o *serveFlags) centralOptions() (central.Options, error) {
	c := central.Options{Data: o.data, Store: o.store, ClusterNode: o.clusterNode, ClusterListen: o.clusterListen,
		NATSListen: o.natsListen, NATSMonitor: o.natsMonitor, Replicas: o.replicas, Retention: o.retention,
		MaxBytes: o.maxStore, NATS: splitList(o.nats), Routes: splitList(o.routes)}
	switch o.natsSync {
	case "", "always":
	default:
		d, err := time.ParseDuration(o.natsSync)
		if err != nil || d <= 0 {
			return c, usageErr("--nats-sync %q: want always or a duration such as 1s", o.natsSync)
		}
		c.SyncInterval = d
	}
	return c, c.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func init() {
	app.Register(&cli.Command{
		Name:  "serve",
		Short: "run the central receiver (HTTP API for gateways and the admin API)",
		Usage: `Runs the central receiver: gateways upload their events to it, fetch config
and commands from it and send heartbeats; operators read events, alerts and
gateway status from its admin API (edgecentral tail, events, gateways list).
With no NATS flags it runs an embedded single-node NATS JetStream with its
files in --data (./edgecentral-data by default): one command for a new
user. --nats joins an external JetStream cluster, --cluster-node runs one
node of a three-node cluster (docs/central.md). Each event is stored once,
durably, before the gateway gets its acknowledgement.

Hostile or broken clients cost bounded memory: a request's signature is
checked before its body is read, bodies and decompressed batches have size
limits (--max-body, --max-decoded), and all requests in flight share
--memory-budget (503 with Retry-After when it is in use); each gateway may
send --gateway-rate requests per second (429 with Retry-After past it).
With the defaults the process stays under 128 MiB (docs/hardening.md).

Examples:
  edgecentral serve
  edgecentral gateways add gw-compound-7 --data /var/lib/edgecentral
  edgecentral serve --listen 0.0.0.0:8700 --data /var/lib/edgecentral \
      --tls-cert /etc/edgecentral/cert.pem --tls-key /etc/edgecentral/key.pem

The first SIGINT/SIGTERM stops accepting requests and lets those in flight
finish (--drain); a second one exits at once. Exit code 0 after a clean
shutdown, 1 on an error (e.g. the address is in use or the data directory is
locked by another edgecentral).`,
		Flags: func(fs *flag.FlagSet) {
			serveOpts = &serveFlags{listen: "127.0.0.1:8700", adminToken: os.Getenv("EDGECENTRAL_ADMIN_TOKEN"),
				maxBody: wire.MaxBatchBody, maxDecoded: wire.MaxBatchDecoded, memoryBudget: receiver.DefaultMemoryBudget,
				gatewayRate: 100, gatewayBurst: 200, replayWindow: 5 * time.Minute, drain: 30 * time.Second, logLevel: "info",
				store: central.StoreAuto, natsSync: "always", retention: 90 * 24 * time.Hour,
				export: exportFlags{maxAttempts: 10, webhookTimeout: 10 * time.Second, mqttProduct: "edgegw",
					mqttPropertyTopic: mqtt.DefaultPropertyTopic, mqttEventTopic: mqtt.DefaultEventTopic}}
			serveOpts.bind(fs)
		},
		Run: runServe,
	})
}

// DefaultDataDir is where `edgecentral serve` keeps its data when given no
// --data and no --nats: a folder in the working directory. The package's
// unit passes --data /var/lib/edgecentral.
const DefaultDataDir = "edgecentral-data"

func runServe(ctx context.Context, env *cli.Env, args []string) error {
	o := serveOpts
	pos := args
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	if o.data == "" && o.nats == "" {
		o.data = DefaultDataDir // one command for a new user
	}
	co, err := o.centralOptions()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))

	// A second signal aborts the drain.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	co.Addr, co.TLSCert, co.TLSKey, co.AdminToken, co.Logger = o.listen, o.tlsCert, o.tlsKey, o.adminToken, log
	co.Receiver = receiver.Options{MaxBody: o.maxBody, MaxDecoded: o.maxDecoded, ReplayWindow: o.replayWindow,
		MemoryBudget: o.memoryBudget, GatewayRate: o.gatewayRate, GatewayBurst: o.gatewayBurst}
	if co.Receiver.ReleaseKeys, err = releaseKeys(o.releaseKey); err != nil {
		return err
	}
	if co.Exporters, err = o.export.exporters(log); err != nil {
		return err
	}
	if err := co.Validate(); err != nil {
		return err
	}
	srv, err := central.Start(co)
	if err != nil {
		return err
	}
	select {
	case err = <-srv.Opened():
	case <-ctx.Done():
		err = ctx.Err()
	case <-sigs:
		err = errors.New("interrupted while opening the store")
	}
	if err != nil {
		srv.Close(context.Background())
		return err
	}
	gws, _ := srv.Backend.Store.Gateways()
	log.Info("edgecentral serving", "url", srv.URL(), "data", o.data, "store", storeName(srv.Backend), "gateways", len(gws), "admin_token", o.adminToken != "")
	fmt.Fprintf(env.Stdout, "edgecentral listening on %s (data %s, %d gateways)\n", srv.URL(), o.data, len(gws))
	if len(gws) == 0 {
		fmt.Fprintf(env.Stdout, "no gateways yet: add one with `edgecentral gateways add ID --url %s`\n", srv.URL())
	}

	var serveErr error
	signals := 0 // seen on sigs; the main context may see the first one too
	select {
	case <-ctx.Done():
	case <-sigs:
		signals++
	case serveErr = <-srv.Done():
	}
	log.Info("edgecentral shutting down", "drain", o.drain)
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	go func() {
		for signals < 2 {
			select {
			case <-sigs:
				signals++
			case <-dctx.Done():
				return
			}
		}
		log.Warn("second signal: aborting the drain")
		cancel()
	}()
	if err := srv.Close(dctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("edgecentral stopped")
	return nil
}

func storeName(b *central.Backend) string {
	switch {
	case b.JS == nil:
		return "badger"
	case b.Node == nil:
		return "jetstream (external cluster)"
	case b.Node.Clustered():
		return "jetstream (embedded cluster node)"
	}
	return "jetstream (embedded)"
}
