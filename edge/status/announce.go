package status

import (
	"context"
	"encoding/json"
	"errors"
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
	return c.post(ctx, "/api/announce", body)
}
