package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/edgegw/edgegw/edge"
)

// TestOutput asks the gateway to drive output name once with its test
// operation (POST /api/outputs/{name}/test), authenticated with the local
// token when the client has one, else with the open CSRF token (no
// password) or a login with the technician password.
func (c *Client) TestOutput(ctx context.Context, name string) error {
	return c.post(ctx, "/api/outputs/"+url.PathEscape(name)+"/test", nil)
}

// post sends an authenticated POST (the local token when the client has
// one, else the open CSRF token or a login with the password) with an
// optional JSON body, and maps the answer to the package's errors.
func (c *Client) post(ctx context.Context, path string, body []byte) error {
	u, err := c.url(path)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		// No timeout (the ctx bounds it: a test can take the server's
		// 15 s), no proxy, and a connection per request: a command makes
		// two or three.
		hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.LocalToken != "" {
		req.Header.Set(LocalTokenHeader, c.LocalToken)
	} else {
		csrf, cookie, err := c.session(ctx, hc)
		if err != nil {
			return err
		}
		req.Header.Set(csrfHeader, csrf)
		if cookie != nil {
			req.AddCookie(cookie)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return c.connErr(u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := replyError(b)
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", edge.ErrPortInUse, msg)
	}
	return fmt.Errorf("post %s: %s: %s", u, resp.Status, msg)
}

// session gets what a POST needs without the local token: the open CSRF
// token when no password is set, else a session from the password.
func (c *Client) session(ctx context.Context, hc *http.Client) (csrf string, cookie *http.Cookie, err error) {
	var rep sessionReply
	if err := c.getJSON(ctx, hc, "/api/session", &rep); err != nil {
		return "", nil, err
	}
	if !rep.AuthRequired {
		return rep.CSRFToken, nil, nil
	}
	if c.Password == "" {
		return "", nil, fmt.Errorf("%w: run as root (or the service's user) to use the gateway's local token, or give the password with --password-file or EDGEGW_PASSWORD", ErrUnauthorized)
	}
	u, err := c.url("/login")
	if err != nil {
		return "", nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("password="+url.QueryEscape(c.Password)))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, c.connErr(u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%w: login: %s", ErrUnauthorized, replyError(body))
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil {
		return "", nil, errors.New("login: no session cookie in the reply")
	}
	return rep.CSRFToken, cookie, nil
}

func (c *Client) url(path string) (string, error) {
	u, err := url.JoinPath(c.BaseURL, path)
	if err != nil {
		return "", fmt.Errorf("status url %q: %w", c.BaseURL, err)
	}
	return u, nil
}

// connErr says ErrNotRunning when nothing listens at the address.
func (c *Client) connErr(u string, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s: %v", ErrNotRunning, c.BaseURL, err)
	}
	return fmt.Errorf("%s: %w", u, err)
}

func (c *Client) getJSON(ctx context.Context, hc *http.Client, path string, v any) error {
	u, err := c.url(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return c.connErr(u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s: %s", u, resp.Status, replyError(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	return nil
}

// replyError is the "error" of a JSON error reply, else the body's text.
func replyError(body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}
