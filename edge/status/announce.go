package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// AnnounceRequest is the body of POST /api/announce.
type AnnounceRequest struct {
	Device string `json:"device"`
	// For is the window, a Go duration ("2h", "90m"); "0" withdraws.
	For  string `json:"for"`
	Note string `json:"note,omitempty"`
	// By names who announced it when a tool posts for someone ("cli:root");
	// the status page's requests are named by the client's address.
	By string `json:"by,omitempty"`
}

// apiAnnounce takes an announced opening (the page's form, `edgegw
// announce` with the local token).
func (s *Server) apiAnnounce(w http.ResponseWriter, r *http.Request) {
	an, ok := s.opts.Provider.(edge.Announcer)
	if !ok {
		jsonError(w, http.StatusNotImplemented, "this gateway takes no announcements")
		return
	}
	var req AnnounceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		jsonError(w, http.StatusBadRequest, "bad announcement: "+err.Error())
		return
	}
	d, err := time.ParseDuration(req.For)
	if err != nil || req.Device == "" {
		jsonError(w, http.StatusBadRequest, "want a device and a window such as 2h (0 withdraws)")
		return
	}
	by := "local:status-page@" + clientAddr(r)
	if req.By != "" {
		by = "local:" + req.By
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := an.Announce(ctx, req.Device, d, by, req.Note); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.providerError(w, "announce "+req.Device, err)
			return
		}
		jsonError(w, http.StatusBadRequest, "announce "+req.Device+": "+err.Error())
		return
	}
	s.log.Info("opening announced from status API", "device", req.Device, "for", d, "client", clientAddr(r))
	writeJSON(w, http.StatusOK, map[string]string{"announced": req.Device, "for": d.String()})
}

// Announce posts an announced opening to the gateway (POST /api/announce),
// authenticated as TestOutput is.
func (c *Client) Announce(ctx context.Context, req AnnounceRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	u, err := c.url("/api/announce")
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if c.HTTP != nil {
		hc = c.HTTP
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.LocalToken != "" {
		hreq.Header.Set(LocalTokenHeader, c.LocalToken)
	} else {
		csrf, cookie, err := c.session(ctx, hc)
		if err != nil {
			return err
		}
		hreq.Header.Set(csrfHeader, csrf)
		if cookie != nil {
			hreq.AddCookie(cookie)
		}
	}
	resp, err := hc.Do(hreq)
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
	}
	return fmt.Errorf("post %s: %s: %s", u, resp.Status, msg)
}
