package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/wire"
)

const defaultURL = "http://127.0.0.1:8700"

// adminFlags are the flags of every command that talks to a running server.
type adminFlags struct {
	url, token string
}

func (a *adminFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", a.url, "base URL of the running edgecentral server (default: $EDGECENTRAL_URL, else "+defaultURL+")")
	fs.StringVar(&a.token, "admin-token", a.token, "admin token, if the server was started with one (default: $EDGECENTRAL_ADMIN_TOKEN)")
}

func newAdminFlags() *adminFlags {
	u := os.Getenv("EDGECENTRAL_URL")
	if u == "" {
		u = defaultURL
	}
	return &adminFlags{url: u, token: os.Getenv("EDGECENTRAL_ADMIN_TOKEN")}
}

// call sends a JSON admin request and decodes the answer into out.
func (a *adminFlags) call(ctx context.Context, method, path string, in, out any) error {
	b, err := a.raw(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// raw sends an admin request (in as JSON, if not nil) and returns the body
// of a 200 answer.
func (a *adminFlags) raw(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	ctype := ""
	if in != nil {
		ctype = "application/json"
	}
	return a.send(ctx, &http.Client{Timeout: 30 * time.Second}, method, path, ctype, body, 256<<20)
}

// send sends an admin request with body (nil: none) and returns the body
// of a 200 answer, read up to max bytes; other answers become errors with
// the server's message.
func (a *adminFlags) send(ctx context.Context, client *http.Client, method, path, contentType string, body io.Reader, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.url, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", a.url, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("edgecentral server at %s: %w (is `edgecentral serve` running?)", a.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var er wire.ErrorResponse
		if json.Unmarshal(b, &er) == nil && er.Error != "" {
			return nil, fmt.Errorf("%s %s: %s (%d %s)", method, path, er.Error, resp.StatusCode, er.Code)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return b, nil
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{cli.ErrUsage}, a...)...)
}
