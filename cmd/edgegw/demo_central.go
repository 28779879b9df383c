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
	"sync"
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
	// Connections accepted but without a request yet: Shutdown counts them
	// busy for 5s, so a Ctrl-C of the demo took 5s now and then (a
	// connection the uplink had opened when it stopped). stop closes them.
	var mu sync.Mutex
	fresh := map[net.Conn]bool{}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StateNew {
			fresh[c] = true
		} else {
			delete(fresh, c)
		}
	}
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
		// The gateway, its only client, has stopped: no request will come
		// on a connection that has not sent one.
		srv.SetKeepAlivesEnabled(false)
		mu.Lock()
		for c := range fresh {
			c.Close()
		}
		mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		store.Close()
	}, nil
}
