package receiver

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// pMoved keys a gateway's former places: + id 0x00 cursor → the place its
// events up to that cursor were stored under (raw). The Badger store keeps
// no path with an event: Events gives each the place the gateway had when
// it was stored, from these and the gateway's current place.
const pMoved = "mv/"

// UpdateGateway implements Storage. It holds the ingest lock, so a move
// splits the events exactly: those up to the last cursor committed keep
// the old place.
func (b *Badger) UpdateGateway(id string, update func(g *Gateway) error) (Gateway, error) {
	b.ingest.Lock()
	defer b.ingest.Unlock()
	var g Gateway
	err := b.db.Update(func(txn *badger.Txn) error {
		g = Gateway{}
		if err := getJSON(txn, gwKey(pGateway, id), &g); err != nil {
			return fmt.Errorf("gateway %q: %w", id, err)
		}
		old, moves := g.Place, g.Moves
		if err := update(&g); err != nil {
			return err
		}
		g.ID, g.Moves = id, moves
		if g.Place != old {
			g.Moves++
			// Moved twice with no event between: the first move's record holds.
			k := gwSubKey(pMoved, id, b.cursor)
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				if err := txn.Set(k, []byte(old)); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		return setJSON(txn, gwKey(pGateway, id), g)
	})
	return g, err
}

// placeHistory is where a gateway's events were stored: moves[i] holds the
// place of the events up to upto[i] (after upto[i-1]); later ones are at
// current.
type placeHistory struct {
	upto    []uint64
	moves   []string
	current string
}

func (b *Badger) placeHistory(txn *badger.Txn, gw string) placeHistory {
	var h placeHistory
	var g Gateway
	if getJSON(txn, gwKey(pGateway, gw), &g) == nil {
		h.current = g.Place
	}
	if g.Moves == 0 {
		return h
	}
	prefix := gwSubKey(pMoved, gw)
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) != len(prefix)+8 {
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			continue
		}
		h.upto = append(h.upto, binary.BigEndian.Uint64(k[len(prefix):]))
		h.moves = append(h.moves, string(v))
	}
	return h
}

// at is the place of the gateway's event at cursor.
func (h *placeHistory) at(cursor uint64) string {
	for i, u := range h.upto {
		if cursor <= u {
			return h.moves[i]
		}
	}
	return h.current
}
