// Package faultproxy is an HTTP proxy on 127.0.0.1 that sits between a
// gateway and the central platform in the end-to-end tests and breaks
// things on purpose: it cuts connections in the middle of a request body,
// adds delays, answers 500 and 429 with Retry-After, forwards a request but
// truncates or drops the answer, holds the central platform down, and
// forges downlink answers.
package faultproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to one request.
type Fault int

const (
	Pass         Fault = iota // forward untouched
	Delay                     // wait Proxy.DelayFor, then forward
	Error500                  // answer 500 without forwarding
	TooMany                   // answer 429 with Retry-After: Proxy.RetryAfter, without forwarding
	CutRequest                // read half the request body, then close the connection
	TruncateResp              // forward, then send half the answer's body and close
	DropResp                  // forward (the central platform acts on it), then close without an answer
	Reset                     // close the connection at once (central down)
)

func (f Fault) String() string {
	return [...]string{"pass", "delay", "500", "429", "cut-request", "truncate-response", "drop-response", "reset"}[f]
}

// Proxy forwards to Target unless a fault says otherwise.
type Proxy struct {
	DelayFor   time.Duration
	RetryAfter int // seconds, for TooMany

	ln   net.Listener
	srv  *http.Server
	tr   *http.Transport
	down atomic.Bool

	mu      sync.Mutex
	target  string // host:port of the central platform
	plan    func(r *http.Request) Fault
	rewrite func(r *http.Request, status int, h http.Header, body []byte) []byte
	counts  map[Fault]int
	reqs    int
}

// Start listens on 127.0.0.1 and serves until Close.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		target: target, DelayFor: 200 * time.Millisecond, RetryAfter: 1,
		ln: ln, counts: map[Fault]int{},
		tr: &http.Transport{MaxIdleConnsPerHost: 8, ResponseHeaderTimeout: 30 * time.Second},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is http://Addr.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Close stops the proxy.
func (p *Proxy) Close() error {
	p.tr.CloseIdleConnections()
	return p.srv.Close()
}

// SetTarget points the proxy at a new central address (a restarted
// central process listens on a new port).
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
	p.tr.CloseIdleConnections()
}

// SetDown holds the central platform down (every connection is closed at
// once) or brings it back.
func (p *Proxy) SetDown(d bool) {
	p.down.Store(d)
	if d {
		p.tr.CloseIdleConnections()
	}
}

// SetPlan sets the function that picks each request's fault (nil: Pass).
func (p *Proxy) SetPlan(f func(r *http.Request) Fault) {
	p.mu.Lock()
	p.plan = f
	p.mu.Unlock()
}

// SetRewrite sets a function that may replace the body of a forwarded
// answer (to forge a downlink document); it keeps the central platform's
// signature headers, which then no longer match. Nil: no rewriting.
func (p *Proxy) SetRewrite(f func(r *http.Request, status int, h http.Header, body []byte) []byte) {
	p.mu.Lock()
	p.rewrite = f
	p.mu.Unlock()
}

// Random returns a plan that applies each fault with its probability (the
// rest pass) to requests whose path starts with prefix.
func Random(seed uint64, prefix string, probs map[Fault]float64) func(*http.Request) Fault {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	faults := []Fault{Delay, Error500, TooMany, CutRequest, TruncateResp, DropResp, Reset}
	return func(r *http.Request) Fault {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			return Pass
		}
		mu.Lock()
		x := rng.Float64()
		mu.Unlock()
		for _, f := range faults {
			if x < probs[f] {
				return f
			}
			x -= probs[f]
		}
		return Pass
	}
}

// Counts returns how many times each fault was applied, and the request total.
func (p *Proxy) Counts() (map[Fault]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := make(map[Fault]int, len(p.counts))
	for k, v := range p.counts {
		c[k] = v
	}
	return c, p.reqs
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		p.count(Reset)
		hangUp(w)
		return
	}
	p.mu.Lock()
	plan, rewrite := p.plan, p.rewrite
	p.mu.Unlock()
	f := Pass
	if plan != nil {
		f = plan(r)
	}
	if f == CutRequest && r.ContentLength > 1 {
		// Read half the body, then hang up mid-request.
		io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		p.count(CutRequest)
		hangUp(w)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.count(f)
	switch f {
	case Reset, CutRequest: // CutRequest of an empty body: just hang up
		hangUp(w)
		return
	case Error500:
		http.Error(w, `{"error":"proxy says 500","code":"internal"}`, http.StatusInternalServerError)
		return
	case TooMany:
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
		http.Error(w, `{"error":"proxy says slow down","code":"overloaded"}`, http.StatusTooManyRequests)
		return
	case Delay:
		wait, cancel := context.WithTimeout(r.Context(), p.DelayFor)
		<-wait.Done()
		cancel()
		if r.Context().Err() != nil {
			return
		}
	}
	resp, err := p.forward(r.Context(), r, body)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	rbody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		hangUp(w)
		return
	}
	switch f {
	case DropResp:
		hangUp(w)
		return
	case TruncateResp:
		truncate(w, resp, rbody)
		return
	}
	if rewrite != nil {
		rbody = rewrite(r, resp.StatusCode, resp.Header, rbody)
	}
	for k, v := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rbody)))
	w.WriteHeader(resp.StatusCode)
	w.Write(rbody)
}

func (p *Proxy) count(f Fault) {
	p.mu.Lock()
	p.counts[f]++
	p.reqs++
	p.mu.Unlock()
}

func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (*http.Response, error) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	req.Host = r.Host
	return p.tr.RoundTrip(req)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: response writer cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, like a dead link
	}
	c.Close()
}

// truncate writes the answer's status line and headers with its full
// Content-Length, half its body, and closes the connection.
func truncate(w http.ResponseWriter, resp *http.Response, body []byte) {
	hj := w.(http.Hijacker)
	c, bw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	writeHead(bw, resp, len(body))
	bw.Write(body[:len(body)/2])
	bw.Flush()
}

func writeHead(bw *bufio.ReadWriter, resp *http.Response, n int) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	for k, vs := range resp.Header {
		if k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(bw, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(bw, "Content-Length: %d\r\nConnection: close\r\n\r\n", n)
}
