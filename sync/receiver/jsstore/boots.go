package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
)

// The boots of a gateway (receiver.BootKeeper) are kept in the heartbeat
// bucket under <gateway token>.boots: a token has no dot, so the key is
// never a gateway's heartbeat.
func bootsKey(gw string) string { return GatewayToken(gw) + ".boots" }

func readBoots(ctx context.Context, kv jetstream.KeyValue, gw string) ([]receiver.BootStart, uint64, error) {
	e, err := kv.Get(ctx, bootsKey(gw))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var boots []receiver.BootStart
	if err := json.Unmarshal(e.Value(), &boots); err != nil {
		return nil, e.Revision(), nil // unreadable: replaced by the next heartbeat
	}
	return boots, e.Revision(), nil
}

// PutBootStart implements receiver.BootKeeper.
func (s *Store) PutBootStart(gw, boot string, start time.Time) error {
	ctx, cancel := s.opCtx()
	defer cancel()
	for {
		boots, rev, err := readBoots(ctx, s.hbKV, gw)
		if err != nil {
			return wrapOp(0, err)
		}
		out, changed := receiver.MergeBoot(boots, boot, start)
		if !changed {
			return nil
		}
		v, _ := json.Marshal(out) // names and times: cannot fail
		if rev == 0 {
			_, err = s.hbKV.Create(ctx, bootsKey(gw), v)
		} else {
			_, err = s.hbKV.Update(ctx, bootsKey(gw), v, rev)
		}
		if err == nil || ctx.Err() != nil {
			return wrapOp(0, err)
		}
		// Another receiver wrote it meanwhile (wrong revision, or the key
		// exists): merge into what it wrote.
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return wrapOp(0, err)
		}
	}
}

// isWrongSequence: a KV update lost the race for the revision.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// BootStarts implements receiver.BootKeeper.
func (s *Store) BootStarts(gw string) ([]receiver.BootStart, error) {
	ctx, cancel := s.opCtx()
	defer cancel()
	boots, _, err := readBoots(ctx, s.hbKV, gw)
	return boots, wrapOp(0, err)
}

var _ receiver.BootKeeper = (*Store)(nil)

// consumerBoots returns the boots of a gateway for Consume, from the
// heartbeat bucket (none while the bucket does not exist yet).
func consumerBoots(ctx context.Context, js jetstream.JetStream) func(gw string) ([]receiver.BootStart, error) {
	var kv jetstream.KeyValue
	return func(gw string) ([]receiver.BootStart, error) {
		if kv == nil {
			k, err := js.KeyValue(ctx, BucketHeartbt)
			if err != nil {
				return nil, err
			}
			kv = k
		}
		boots, _, err := readBoots(ctx, kv, gw)
		return boots, err
	}
}
