package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/receiver"
)

// startDemoCentral starts an embedded central receiver (embedded Badger, as
// `edgecentral serve` runs it) on a free 127.0.0.1 port, registers the demo
// gateway with a fresh key, and points cfg's uplink at it.
func startDemoCentral(ctx context.Context, cfg *config.Config, dataDir string, stderr io.Writer) (stop func(), err error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "demo-central")
	store, err := receiver.OpenBadger(filepath.Join(dataDir, "central"), logger)
	if err != nil {
		return nil, err
	}
	rcv, err := receiver.New(receiver.Options{Store: store, Logger: logger})
	if err != nil {
		store.Close()
		return nil, err
	}
	key, err := rcv.AddGateway(cfg.Gateway.ID)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, err
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo central stopped", "err", err)
		}
	}()
	cfg.Uplink.URL = fmt.Sprintf("http://%s", ln.Addr())
	cfg.Uplink.Key = key.String()
	cfg.Uplink.KeyFile = ""
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		store.Close()
	}, nil
}
