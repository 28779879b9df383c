package centralbench

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver/jsstore"
	"github.com/edgegw/edgegw/sync/wire"
)

// StreamLeader is the server name of the events stream's leader ("" when
// it cannot be found out).
func StreamLeader(urls []string) string {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(2*time.Second))
	if err != nil {
		return ""
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jsstore.StreamEvents)
	if err != nil {
		return ""
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// Tally counts the events read back by (epoch, seq).
type Tally struct {
	Seen       map[[2]uint64]uint8
	Duplicates int
}

// Note counts one event.
func (t *Tally) Note(epoch, seq uint64) {
	if t.Seen == nil {
		t.Seen = map[[2]uint64]uint8{}
	}
	k := [2]uint64{epoch, seq}
	if t.Seen[k] > 0 {
		t.Duplicates++
	}
	t.Seen[k]++
}

// ReadBack reads the whole events stream with an ordered consumer into t
// (bounded by ctx).
func ReadBack(ctx context.Context, urls []string, t *Tally) error {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, jsstore.StreamEvents)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	if last == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, jsstore.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if _, err := jsstore.WalkEvents(m.Data(), func(e *wire.Event) error {
			t.Note(e.Epoch, e.Seq)
			return nil
		}); err != nil {
			return err
		}
		if md.Sequence.Stream >= last {
			return nil
		}
	}
}
