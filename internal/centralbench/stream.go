package centralbench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/edge"
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
// (bounded by ctx). A consumer that stalls (no message for readStall, as
// can happen while a restarted node rejoins) is replaced by a new one
// from the next sequence, so a leader change costs seconds, not ctx.
// Retries wait on clk.
func ReadBack(ctx context.Context, clk edge.Clock, urls []string, t *Tally) error {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	retry := edge.Backoff{Min: 200 * time.Millisecond, Max: 2 * time.Second, Clock: clk}
	var last uint64
	for {
		last, err = lastSeq(ctx, js)
		if err == nil {
			break
		}
		if retry.Wait(ctx) != nil {
			return fmt.Errorf("stream info: %w (%w)", ctx.Err(), err)
		}
	}
	retry.Reset()
	direct := false
	for next := uint64(1); next <= last; {
		if ctx.Err() != nil {
			return fmt.Errorf("read back at %d of %d: %w", next, last, ctx.Err())
		}
		if !direct {
			done, err := readFrom(ctx, js, next, last, t)
			if errors.Is(err, errBadMessage) {
				return err
			}
			if done >= next {
				next = done + 1
				continue
			}
			// Not one message through a consumer (a cluster whose meta
			// leader is still settling cannot make one): from here on,
			// ask the stream's leader for each message itself.
			direct = true
		}
		done, err := getOne(ctx, js, next, t)
		if errors.Is(err, errBadMessage) {
			return err
		}
		if done >= next {
			next = done + 1
			retry.Reset()
			continue
		}
		retry.Wait(ctx) // the loop's ctx check ends it
	}
	return nil
}

// getOne notes message seq, got from the stream directly (a missing one is
// skipped), and returns seq; seq-1 when it could not be read.
func getOne(ctx context.Context, js jetstream.JetStream, seq uint64, t *Tally) (uint64, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(gctx, jsstore.StreamEvents)
	if err != nil {
		return seq - 1, err
	}
	m, err := st.GetMsg(gctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return seq, nil
	}
	if err != nil {
		return seq - 1, err
	}
	if _, err := jsstore.WalkEvents(m.Data, func(e *wire.Event) error {
		t.Note(e.Epoch, e.Seq)
		return nil
	}); err != nil {
		return seq - 1, fmt.Errorf("%w at %d: %w", errBadMessage, seq, err)
	}
	return seq, nil
}

// readStall is how long ReadBack waits for a message before it starts
// over with a new consumer.
const readStall = 10 * time.Second

// errBadMessage: a message that does not decode; reading it again will not
// help.
var errBadMessage = errors.New("bad message")

func lastSeq(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, jsstore.StreamEvents)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// readFrom notes the messages from sequence start to last and returns the
// last sequence it noted (start-1: none).
func readFrom(ctx context.Context, js jetstream.JetStream, start, last uint64, t *Tally) (uint64, error) {
	done := start - 1
	cons, err := js.OrderedConsumer(ctx, jsstore.StreamEvents, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return done, err
	}
	it, err := cons.Messages()
	if err != nil {
		return done, err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	stall := time.AfterFunc(readStall, it.Stop)
	defer stall.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return done, err
		}
		stall.Reset(readStall)
		md, err := m.Metadata()
		if err != nil {
			return done, fmt.Errorf("%w: %w", errBadMessage, err)
		}
		if md.Sequence.Stream <= done {
			continue
		}
		if _, err := jsstore.WalkEvents(m.Data(), func(e *wire.Event) error {
			t.Note(e.Epoch, e.Seq)
			return nil
		}); err != nil {
			return done, fmt.Errorf("%w at %d: %w", errBadMessage, md.Sequence.Stream, err)
		}
		done = md.Sequence.Stream
		if done >= last {
			return done, nil
		}
	}
}
