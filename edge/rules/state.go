package rules

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Rule state lives in the state store in a fixed number of shards
// ("rules/state/NN"), each a JSON object of "rule\x00device" -> state, so
// that it can be enumerated without a key scan and a batch rewrites only
// the shards it touched.
const nShards = 64

const metaKey = "rules/meta"

func shardKey(i int) string { return fmt.Sprintf("rules/state/%02d", i) }

func shardOf(k pairKey) int {
	h := fnv.New32a()
	h.Write([]byte(k.rule))
	h.Write([]byte{0})
	h.Write([]byte(k.dev))
	return int(h.Sum32() % nShards)
}

type meta struct {
	LastNow time.Time `json:"last_now"`
}

// shard is one stored group of pair states. Each pair state records which
// events it reflects (AsOf: all those before it), so after a crash between
// writing shards and moving the cursor, re-reading the events from the
// cursor skips, for each pair, the events its state already reflects.
// Shards are written one by one (the state store has no transactions);
// the per-pair mark makes each of them safe on its own. Next is the newest
// mark written into the shard, for diagnostics.
type shard struct {
	Next  uint64                     `json:"next"`
	Pairs map[string]json.RawMessage `json:"pairs"`
}

// stateStore persists a core's dirty pair states.
type stateStore struct {
	st     edge.StateStore
	shards [nShards]shard
	dirty  [nShards]bool
	ann    []byte // the announced windows, when they changed
}

func newStateStore(st edge.StateStore) *stateStore {
	s := &stateStore{st: st}
	for i := range s.shards {
		s.shards[i].Pairs = map[string]json.RawMessage{}
	}
	return s
}

// load reads every shard into c; states of rules that no longer exist are
// dropped. It returns the last engine time recorded.
func (s *stateStore) load(c *Core) (time.Time, error) {
	var m meta
	if s.st == nil {
		return m.LastNow, nil
	}
	if b, err := s.st.GetState(metaKey); err != nil {
		return m.LastNow, fmt.Errorf("read rule state: %w", err)
	} else if b != nil {
		_ = json.Unmarshal(b, &m)
	}
	if b, err := s.st.GetState(annKey); err != nil {
		return m.LastNow, fmt.Errorf("read announcements: %w", err)
	} else if b != nil {
		if err := c.loadAnnounce(b); err != nil {
			return m.LastNow, err
		}
	}
	for i := range s.shards {
		b, err := s.st.GetState(shardKey(i))
		if err != nil {
			return m.LastNow, fmt.Errorf("read rule state shard %d: %w", i, err)
		}
		if b == nil {
			continue
		}
		if err := json.Unmarshal(b, &s.shards[i]); err != nil {
			return m.LastNow, fmt.Errorf("decode rule state shard %d: %w", i, err)
		}
		if s.shards[i].Pairs == nil {
			s.shards[i].Pairs = map[string]json.RawMessage{}
		}
		for key, raw := range s.shards[i].Pairs {
			rname, dev, _ := strings.Cut(key, "\x00")
			if c.set.byName[rname] == nil {
				delete(s.shards[i].Pairs, key)
				s.dirty[i] = true
				continue
			}
			ps := &pairState{}
			if err := json.Unmarshal(raw, ps); err != nil {
				return m.LastNow, fmt.Errorf("decode rule state of %s/%s: %w", rname, dev, err)
			}
			ps.asOf = ps.AsOf
			c.load(pairKey{rname, dev}, ps)
		}
	}
	return m.LastNow, nil
}

// take moves the core's dirty states into the shards; they reflect the
// events before done (each pair records it: a pair that is not dirty keeps
// the mark it was written with, even when its shard is written again).
func (s *stateStore) take(c *Core, done uint64) error {
	if c.annDirty {
		b, err := c.encodeAnnounce()
		if err != nil {
			return err
		}
		s.ann, c.annDirty = b, false
	}
	for k := range c.dirty {
		ps := c.pairs[k]
		if ps != nil {
			ps.asOf = max(ps.asOf, done)
			ps.AsOf = ps.asOf
		}
		i := shardOf(k)
		key := k.rule + "\x00" + k.dev
		if ps == nil {
			delete(s.shards[i].Pairs, key)
		} else {
			b, err := json.Marshal(ps)
			if err != nil {
				return err
			}
			s.shards[i].Pairs[key] = b
		}
		s.dirty[i] = true
	}
	clear(c.dirty)
	return nil
}

// kv is one state-store write.
type kv struct {
	key string
	val []byte
}

// snapshot encodes the dirty shards, marked as reflecting the events
// before next, and the engine time, and clears the dirty marks. Writing
// them (write) can then happen off the engine's goroutine.
func (s *stateStore) snapshot(now time.Time, next uint64) ([]kv, error) {
	var out []kv
	for i, d := range s.dirty {
		if !d {
			continue
		}
		if next > s.shards[i].Next {
			s.shards[i].Next = next
		}
		b, err := json.Marshal(s.shards[i])
		if err != nil {
			return nil, err
		}
		out = append(out, kv{shardKey(i), b})
		s.dirty[i] = false
	}
	if s.ann != nil {
		out = append(out, kv{annKey, s.ann})
		s.ann = nil
	}
	if len(out) > 0 {
		b, _ := json.Marshal(meta{LastNow: now})
		out = append(out, kv{metaKey, b})
	}
	return out, nil
}

// write stores a snapshot.
func (s *stateStore) write(kvs []kv) error {
	if s.st == nil {
		return nil
	}
	for _, x := range kvs {
		if err := s.st.PutState(x.key, x.val); err != nil {
			return fmt.Errorf("write rule state %s: %w", x.key, err)
		}
	}
	return nil
}

// flush writes the dirty shards now.
func (s *stateStore) flush(now time.Time, next uint64) error {
	kvs, err := s.snapshot(now, next)
	if err != nil {
		return err
	}
	return s.write(kvs)
}

// load installs a persisted state.
func (c *Core) load(k pairKey, ps *pairState) {
	if c.pairs[k] == nil {
		c.order = append(c.order, k)
		c.sorted = false
	}
	ps.savedSeen = ps.LastSeen
	c.pairs[k] = ps
	c.device(k.dev)
	if ps.Alert != nil {
		c.byID[ps.Alert.ID] = k
	}
}

// DiscardDirty forgets which states changed, for benchmarks and tools
// that do not persist.
func (c *Core) DiscardDirty() { clear(c.dirty) }
