package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgegw/edgegw/sync/receiver"
)

// directBatch asks any replica of stream for up to batch messages matching
// filter from seq (or, with seq 0 and since set, from that store time):
// JetStream's batched direct get, which nats.go v1.56.0 has no call for.
func (s *Store) directBatch(ctx context.Context, stream, filter string, seq uint64, since time.Time, batch int) ([]*nats.Msg, error) {
	req := map[string]any{"next_by_subj": filter, "batch": batch, "max_bytes": 4 << 20}
	if seq > 0 || since.IsZero() {
		req["seq"] = max(seq, 1)
	} else {
		req["start_time"] = since.UTC()
	}
	body, _ := json.Marshal(req)
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, err
	}
	var out []*nats.Msg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return out, fmt.Errorf("%w: direct get from %s: %v", receiver.ErrUnavailable, stream, err)
			}
			return out, err
		}
		switch st := m.Header.Get("Status"); st {
		case "":
			out = append(out, m)
		case "204", "404": // end of batch, none (more)
			return out, nil
		case "408":
			return out, fmt.Errorf("direct get from %s: %s", stream, m.Header.Get("Description"))
		default:
			return out, fmt.Errorf("direct get from %s: status %s %s", stream, st, m.Header.Get("Description"))
		}
	}
}

// Events implements receiver.Storage: the cursor of an event is its
// message's stream sequence << 16 | its index + 1.
func (s *Store) Events(gw string, after uint64, limit int) ([]receiver.StoredEvent, uint64, error) {
	return s.Query(receiver.Query{Gateway: gw, After: after, Limit: limit})
}

// Query implements receiver.Querier.
func (s *Store) Query(q receiver.Query) ([]receiver.StoredEvent, uint64, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	sc, err := receiver.ParseScope(q.Scope)
	if err != nil {
		return nil, q.After, err
	}
	scope := sc.PlacePath() // the subject filter; a building and below are matched event by event
	if q.Gateway != "" && scope == "" {
		if g, err := s.Gateway(q.Gateway); err == nil && g.Place != "" && g.Moves == 0 {
			scope = g.Place // a literal filter is cheaper than *.*.*.*.gw.*; a moved gateway's events are at each place
		}
	}
	filter, err := ScopeFilter(scope, q.Gateway)
	if err != nil {
		return nil, q.After, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	seq, skip := q.After>>16, q.After&0xffff
	next := q.After
	var out []receiver.StoredEvent
	since := q.Since
	for len(out) < q.Limit {
		msgs, err := s.directBatch(ctx, StreamEvents, filter, seq, since, 64)
		if err != nil {
			return out, next, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			mseq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
			if !q.Until.IsZero() {
				if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp")); err == nil && ts.After(q.Until) {
					return out, next, nil
				}
			}
			b, err := DecodeBatch(m.Header.Get("Nats-Subject"), mseq, m.Data)
			if err != nil {
				return out, next, err
			}
			for i := range b.Events {
				if mseq == q.After>>16 && uint64(i+1) <= skip {
					continue
				}
				if sc.Deep() && !sc.Match(b.Events[i].Path) {
					continue
				}
				if len(out) == q.Limit {
					return out, next, nil
				}
				out = append(out, b.Events[i])
				next = b.Events[i].Cursor
			}
			if len(out) < q.Limit {
				next = mseq<<16 | 0xffff // past this message
			}
			seq = mseq + 1
		}
		since = time.Time{}
	}
	return out, next, nil
}

// LastCursor is a cursor past the newest stored event (0: none).
func (s *Store) LastCursor() uint64 {
	ctx, cancel := s.opCtx()
	defer cancel()
	info, err := s.ev.Info(ctx)
	if err != nil || info.State.LastSeq == 0 {
		return 0
	}
	return info.State.LastSeq<<16 | 0xffff
}

func sortStatus(g []receiver.GatewayStatus) {
	sort.Slice(g, func(i, j int) bool { return g[i].ID < g[j].ID })
}

func sortAlerts(a []receiver.ActiveAlert) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].Gateway != a[j].Gateway {
			return a[i].Gateway < a[j].Gateway
		}
		return a[i].Alert.ID < a[j].Alert.ID
	})
}
