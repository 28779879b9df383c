package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"
)

// ServerOptions configure Start.
type ServerOptions struct {
	Dir        string // Badger directory; required
	Addr       string // listen address; default 127.0.0.1:8700 ("127.0.0.1:0" picks a port)
	TLSCert    string // PEM certificate and key files: serve HTTPS when both are set
	TLSKey     string
	AdminToken string       // see Options.AdminToken
	Logger     *slog.Logger // nil discards
	// Receiver overrides the receiver's limits (its Store, Logger and
	// AdminToken are set by Start).
	Receiver Options
}

// Server is a receiver with its Badger store and HTTP server: what
// `edgecentral serve` runs and what `edgegw demo` embeds.
type Server struct {
	*Receiver
	Badger *Badger
	ln     net.Listener
	http   *http.Server
	tls    bool
	done   chan error
}

// Start opens the store, listens and serves in the background until Close.
func Start(o ServerOptions) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8700"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("tls: give both the certificate and the key file, or neither")
	}
	store, err := OpenBadger(o.Dir, o.Logger)
	if err != nil {
		return nil, err
	}
	ro := o.Receiver
	ro.Store, ro.Logger, ro.AdminToken = store, o.Logger, o.AdminToken
	rcv, err := New(ro)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	s := &Server{Receiver: rcv, Badger: store, ln: ln, tls: o.TLSCert != "", done: make(chan error, 1),
		http: &http.Server{
			Handler:           rcv,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		}}
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
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL gateways use: http(s)://addr.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Done delivers the serve error (nil after Close) once the
// HTTP server stops.
func (s *Server) Done() <-chan error { return s.done }

// Close stops accepting requests, waits (until ctx ends) for those in
// flight, and closes the store.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	if cerr := s.Badger.Close(); err == nil {
		err = cerr
	}
	return err
}

// MemoryLimit is the soft Go memory limit of the receiver process
// (`edgecentral serve`): Badger's table builders make bursts of garbage, and
// the limit has the GC collect them before the heap doubles (small boxes).
const MemoryLimit = 96 << 20

// ApplyMemoryLimit sets the process's soft memory limit to MemoryLimit,
// unless the GOMEMLIMIT environment variable sets one. Call it once, early,
// in a process that runs a receiver.
func ApplyMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
