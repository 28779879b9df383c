package receiver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgegw/edgegw/sync/wire"
)

// Gateway administration: move (a new place), rekey (a new key), disable
// and enable. Each is one Storage.UpdateGateway; every receiver of a
// cluster sees it within a moment (the JetStream store watches its
// gateways bucket), the Badger store at once.

// GatewayState is the answer of the admin routes that change a gateway
// (never its key, but for rekey: AddGatewayResponse).
type GatewayState struct {
	ID       string `json:"id"`
	Place    string `json:"place,omitempty"`
	Disabled bool   `json:"disabled"`
}

// MoveGatewayRequest is the body of POST /v1/admin/gateways/{id}/move.
type MoveGatewayRequest struct {
	Place string `json:"place"` // district/street/committee/compound codes
}

// MoveGateway gives gateway id a new place (ParsePlace; "_" for a level
// not given). Events stored from then on carry the new path and subject;
// those stored before keep theirs.
func MoveGateway(s Storage, id, place string) (Gateway, error) {
	if !ValidGatewayID(id) {
		return Gateway{}, fmt.Errorf("id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	if strings.Trim(place, "/") == "" {
		return Gateway{}, errors.New("place: empty: want district/street/committee/compound codes")
	}
	p, err := FullPlace(place)
	if err != nil {
		return Gateway{}, fmt.Errorf("place: %w", err)
	}
	place = strings.Join(p, "/")
	return s.UpdateGateway(id, func(g *Gateway) error { g.Place = place; return nil })
}

// RekeyGateway gives gateway id a new random key and returns it: the old
// key is refused from then on (401).
func RekeyGateway(s Storage, id string) (wire.Key, error) {
	if !ValidGatewayID(id) {
		return wire.Key{}, fmt.Errorf("id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	k, err := wire.NewKey()
	if err != nil {
		return k, err
	}
	if _, err := s.UpdateGateway(id, func(g *Gateway) error { g.Key = k; return nil }); err != nil {
		return wire.Key{}, err
	}
	return k, nil
}

// SetGatewayDisabled disables or enables gateway id. A disabled gateway's
// requests are answered 403 forbidden ("gateway is disabled"); it keeps
// its backlog and retries with backoff until it is enabled.
func SetGatewayDisabled(s Storage, id string, disabled bool) (Gateway, error) {
	if !ValidGatewayID(id) {
		return Gateway{}, fmt.Errorf("id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id)
	}
	return s.UpdateGateway(id, func(g *Gateway) error { g.Disabled = disabled; return nil })
}

// adminGatewayID is the {id} of an admin gateway route; it answers 400
// and returns false when it is not a gateway id.
func (r *Receiver) adminGatewayID(w http.ResponseWriter, req *http.Request) (string, bool) {
	id := req.PathValue("id")
	if !ValidGatewayID(id) {
		r.adminErr(w, req, wire.CodeBadRequest, fmt.Sprintf("id %q: want 1 to 64 of A-Z a-z 0-9 . _ -", id))
		return "", false
	}
	return id, true
}

// adminUpdateErr answers the error of a gateway update.
func (r *Receiver) adminUpdateErr(w http.ResponseWriter, req *http.Request, id string, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		r.adminErr(w, req, wire.CodeNotFound, fmt.Sprintf("unknown gateway %q", id))
	case errors.Is(err, ErrUnavailable):
		r.adminErr(w, req, wire.CodeOverloaded, err.Error())
	default:
		r.adminErr(w, req, wire.CodeInternal, err.Error())
	}
}

func (r *Receiver) adminMoveGateway(w http.ResponseWriter, req *http.Request) {
	id, ok := r.adminGatewayID(w, req)
	if !ok {
		return
	}
	var in MoveGatewayRequest
	if !r.readAdmin(w, req, &in) {
		return
	}
	if strings.Trim(in.Place, "/") == "" {
		r.adminErr(w, req, wire.CodeBadRequest, "place: empty: want district/street/committee/compound codes")
		return
	}
	if _, err := FullPlace(in.Place); err != nil {
		r.adminErr(w, req, wire.CodeBadRequest, "place: "+err.Error())
		return
	}
	g, err := MoveGateway(r.store, id, in.Place)
	if err != nil {
		r.adminUpdateErr(w, req, id, err)
		return
	}
	r.log.Info("gateway moved", "gateway", id, "place", g.Place)
	r.adminOK(w, req, GatewayState{ID: g.ID, Place: g.Place, Disabled: g.Disabled})
}

func (r *Receiver) adminRekeyGateway(w http.ResponseWriter, req *http.Request) {
	id, ok := r.adminGatewayID(w, req)
	if !ok {
		return
	}
	k, err := RekeyGateway(r.store, id)
	if err != nil {
		r.adminUpdateErr(w, req, id, err)
		return
	}
	g, err := r.store.Gateway(id)
	if err != nil {
		r.adminUpdateErr(w, req, id, err)
		return
	}
	r.log.Info("gateway rekeyed", "gateway", id)
	r.adminOK(w, req, AddGatewayResponse{ID: id, Key: k, Place: g.Place})
}

func (r *Receiver) adminDisableGateway(disabled bool) func(w http.ResponseWriter, req *http.Request) {
	return func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.adminGatewayID(w, req)
		if !ok {
			return
		}
		g, err := SetGatewayDisabled(r.store, id, disabled)
		if err != nil {
			r.adminUpdateErr(w, req, id, err)
			return
		}
		r.log.Info("gateway state set", "gateway", id, "disabled", disabled)
		r.adminOK(w, req, GatewayState{ID: g.ID, Place: g.Place, Disabled: g.Disabled})
	}
}
