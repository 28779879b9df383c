package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

func commandSubject(gw string) string { return commandPrefix + "." + GatewayToken(gw) }

func resultKey(gw string, id uint64) string {
	return GatewayToken(gw) + "." + strconv.FormatUint(id, 10)
}

func attachName(gw string, id uint64) string {
	return GatewayToken(gw) + "/" + strconv.FormatUint(id, 10)
}

type resultRecord struct {
	wire.CommandResult
	AttachmentBytes int `json:"attachment_bytes,omitempty"`
}

// AddCommand implements receiver.Storage: the command's id is its
// sequence in the commands stream (ids are unique across gateways).
func (s *Store) AddCommand(gw string, c wire.Command) (wire.Command, error) {
	c.ID = 0
	v, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	ack, err := s.js.Publish(ctx, commandSubject(gw), v)
	if err != nil {
		return c, wrapOp(0, err)
	}
	c.ID = ack.Sequence
	return c, nil
}

// Commands implements receiver.Storage.
func (s *Store) Commands(gw string, after uint64, limit int, pendingOnly bool) ([]receiver.CommandEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var out []receiver.CommandEntry
	seq := after + 1
	for len(out) < limit {
		msgs, err := s.directBatch(ctx, StreamCommands, commandSubject(gw), seq, time.Time{}, min(limit, 256))
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			id, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
			seq = id + 1
			ce := receiver.CommandEntry{Gateway: gw}
			if err := json.Unmarshal(m.Data, &ce.Command); err != nil {
				return nil, fmt.Errorf("command %d: %w", id, err)
			}
			ce.Command.ID = id
			e, err := s.resKV.Get(ctx, resultKey(gw, id))
			switch {
			case err == nil:
				if pendingOnly {
					continue
				}
				var r resultRecord
				if err := json.Unmarshal(e.Value(), &r); err != nil {
					return nil, fmt.Errorf("command %d result: %w", id, err)
				}
				ce.AttachmentBytes, ce.Result = r.AttachmentBytes, &r.CommandResult
			case !errors.Is(err, jetstream.ErrKeyNotFound):
				return nil, wrapOp(0, err)
			}
			if len(out) < limit {
				out = append(out, ce)
			}
		}
	}
	return out, nil
}

// PutResult implements receiver.Storage.
func (s *Store) PutResult(gw string, id uint64, r wire.CommandResult) (bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	m, err := s.cmds.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && m.Subject != commandSubject(gw)) {
		return false, fmt.Errorf("gateway %q command %d: %w", gw, id, receiver.ErrNotFound)
	} else if err != nil {
		return false, wrapOp(0, err)
	}
	k := resultKey(gw, id)
	if _, err := s.resKV.Get(ctx, k); err == nil {
		return false, nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, wrapOp(0, err)
	}
	rec := resultRecord{CommandResult: r, AttachmentBytes: len(r.Attachment)}
	if len(r.Attachment) > 0 {
		if _, err := s.att.PutBytes(ctx, attachName(gw, id), r.Attachment); err != nil {
			return false, wrapOp(0, fmt.Errorf("attachment: %w", err))
		}
	}
	rec.Attachment = nil
	v, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	if _, err := s.resKV.Create(ctx, k, v); errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	} else if err != nil {
		return false, wrapOp(0, err)
	}
	return true, nil
}

// Attachment implements receiver.Storage.
func (s *Store) Attachment(gw string, id uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	b, err := s.att.GetBytes(ctx, attachName(gw, id))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("gateway %q command %d: attachment: %w", gw, id, receiver.ErrNotFound)
	}
	return b, wrapOp(0, err)
}

// fileName is the object of a file a gateway put: "<gateway>/files/<name>"
// in the attachment store (command attachments are "<gateway>/<id>").
func fileName(gw, name string) string { return GatewayToken(gw) + "/files/" + name }

// PutFile implements receiver.Storage: files go to the attachment object
// store beside the diagnostics bundles.
func (s *Store) PutFile(gw, name string, b []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if _, err := s.att.PutBytes(ctx, fileName(gw, name), b); err != nil {
		return wrapOp(0, fmt.Errorf("file %s: %w", name, err))
	}
	return nil
}

// File implements receiver.Storage.
func (s *Store) File(gw, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	b, err := s.att.GetBytes(ctx, fileName(gw, name))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("gateway %q file %q: %w", gw, name, receiver.ErrNotFound)
	}
	return b, wrapOp(0, err)
}
