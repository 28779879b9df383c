package jsstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
)

// UpdateGateway implements receiver.Storage: a compare-and-set on the
// gateway's key in the gateways bucket, retried when another receiver
// updated it in between. The other receivers' caches drop the gateway when
// their watch sees the update (watchGateways).
func (s *Store) UpdateGateway(id string, update func(g *receiver.Gateway) error) (receiver.Gateway, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	tok := GatewayToken(id)
	for {
		e, err := s.gwKV.Get(ctx, tok)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return receiver.Gateway{}, fmt.Errorf("gateway %q: %w", id, receiver.ErrNotFound)
		} else if err != nil {
			return receiver.Gateway{}, fmt.Errorf("gateway %q: %w: %w", id, receiver.ErrUnavailable, err)
		}
		var g receiver.Gateway
		if err := json.Unmarshal(e.Value(), &g); err != nil {
			return g, fmt.Errorf("gateway %q: %w", id, err)
		}
		old, moves := g.Place, g.Moves
		if err := update(&g); err != nil {
			return g, err
		}
		g.ID, g.Moves = id, moves
		if g.Place != old {
			g.Moves++ // from now on its writes check its epochs at every place (ingest.go)
		}
		v, err := json.Marshal(g)
		if err != nil {
			return g, err
		}
		_, err = s.gwKV.Update(ctx, tok, v, e.Revision())
		var ae *jetstream.APIError
		if errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && ctx.Err() == nil {
			continue // updated in between: again on the new value
		}
		if err != nil {
			return g, fmt.Errorf("gateway %q: %w: %w", id, receiver.ErrUnavailable, err)
		}
		s.forgetGateway(id)
		return g, nil
	}
}

// forgetGateway drops id from the cache; a read in flight does not put
// back what it read before (gwGen).
func (s *Store) forgetGateway(id string) {
	s.gwMu.Lock()
	delete(s.gws, id)
	s.gwGen++
	s.gwMu.Unlock()
}

// epochFilter is the subject filter of a gateway's epoch at every place:
// a moved gateway's writes check the last message of the (gateway, epoch)
// wherever it was stored (Nats-Expected-Last-Subject-Sequence-Subject), so
// a batch retried across a move is not stored a second time under the new
// place.
func epochFilter(gw string, epoch uint64) string {
	return SubjectPrefix + "." + strings.Repeat("*.", 4) + GatewayToken(gw) + "." + strconv.FormatUint(epoch, 10)
}

// headerExpectedSubject names the subject (filter) the expected last
// subject sequence is checked against (nats-server 2.11+).
const headerExpectedSubject = "Nats-Expected-Last-Subject-Sequence-Subject"

// clearGateways empties the gateway cache.
func (s *Store) clearGateways() {
	s.gwMu.Lock()
	clear(s.gws)
	s.gwGen++
	s.gwMu.Unlock()
}
