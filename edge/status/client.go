package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrNotRunning says nothing answers at the status address.
var ErrNotRunning = errors.New("gateway not running (nothing answers at the status address)")

// ErrUnauthorized says the status API wants the technician password.
var ErrUnauthorized = errors.New("status API needs the technician password")

// Client reads a gateway's status API, for `edgegw status` and `edgegw diag`.
type Client struct {
	// BaseURL is like http://127.0.0.1:8780.
	BaseURL string
	// Password is sent with HTTP Basic auth (GET only) when not empty.
	Password string
	// LocalToken is the running gateway's local token (ReadLocalToken),
	// sent by TestOutput instead of a login when not empty.
	LocalToken string
	// HTTP is the client; nil uses one with a 5 s timeout.
	HTTP *http.Client
}

// URLFromListen turns a listen address into the URL a local client uses:
// an unspecified host (0.0.0.0, ::, "") becomes 127.0.0.1.
func URLFromListen(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	path, query, _ := strings.Cut(path, "?")
	u, err := url.JoinPath(c.BaseURL, path)
	if err != nil {
		return nil, fmt.Errorf("status url %q: %w", c.BaseURL, err)
	}
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.Password != "" {
		req.SetBasicAuth("technician", c.Password)
	}
	if c.LocalToken != "" {
		req.Header.Set(LocalTokenHeader, c.LocalToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotRunning, c.BaseURL, err)
		}
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%w (give it with --password-file or EDGEGW_PASSWORD)", ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("get %s: %s: %s", u, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("get %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// StatusRaw returns /api/status as sent.
func (c *Client) StatusRaw(ctx context.Context) ([]byte, error) { return c.get(ctx, "/api/status") }

// Status returns the decoded snapshot.
func (c *Client) Status(ctx context.Context) (*Snapshot, []byte, error) {
	raw, err := c.StatusRaw(ctx)
	if err != nil {
		return nil, nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, raw, fmt.Errorf("decode status: %w", err)
	}
	return &s, raw, nil
}

// Logs returns the gateway's recent log lines.
func (c *Client) Logs(ctx context.Context) ([]string, error) {
	raw, err := c.get(ctx, "/api/logs")
	if err != nil {
		return nil, err
	}
	var v struct {
		Lines []string `json:"lines"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode logs: %w", err)
	}
	return v.Lines, nil
}

// Metrics returns /metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) { return c.get(ctx, "/metrics") }
