// Command centralproc is a test-only central process for the end-to-end
// tests: the real sync/receiver over its embedded Badger store, with one
// gateway registered under a given key, and a crash hook: with
// --crash-after-store N it SIGKILLs itself after the receiver has stored
// the Nth batch and before the acknowledgement leaves (the receiver stores
// durably before it writes its answer, so the moment it calls WriteHeader
// is exactly "stored, not acknowledged").
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "centralproc:", err)
		os.Exit(1)
	}
}

func run() error {
	var dir, addr, addrFile, gw, key string
	var crashAfter int64
	flag.StringVar(&dir, "dir", "", "Badger directory")
	flag.StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	flag.StringVar(&addrFile, "addr-file", "", "write the address listened on here")
	flag.StringVar(&gw, "gateway", "gw1", "gateway id to register")
	flag.StringVar(&key, "key", "", "its key (hex)")
	flag.Int64Var(&crashAfter, "crash-after-store", 0, "SIGKILL self after storing the Nth batch, before acknowledging it")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := receiver.OpenBadger(dir, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	rcv, err := receiver.New(receiver.Options{Store: store, Logger: logger})
	if err != nil {
		return err
	}
	if key != "" {
		k, err := wire.ParseKey(key)
		if err != nil {
			return err
		}
		if _, err := store.Gateway(gw); err != nil {
			if err := store.AddGateway(receiver.Gateway{ID: gw, Key: k, Created: time.Now().UTC()}); err != nil {
				return err
			}
		}
	}
	var h http.Handler = rcv
	if crashAfter > 0 {
		var n atomic.Int64
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == wire.PathBatches {
				w = &crashWriter{ResponseWriter: w, n: &n, at: crashAfter}
			}
			rcv.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	if addrFile != "" {
		if err := os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(cctx)
}

// crashWriter kills the process when a batch's 200 is about to be written:
// after the store, before the acknowledgement.
type crashWriter struct {
	http.ResponseWriter
	n  *atomic.Int64
	at int64
}

func (c *crashWriter) WriteHeader(status int) {
	if status == http.StatusOK && c.n.Add(1) == c.at {
		fmt.Fprintln(os.Stderr, "centralproc: crashing after store, before ack")
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Kill() // SIGKILL: no deferred close, no flush
		}
		select {}
	}
	c.ResponseWriter.WriteHeader(status)
}
