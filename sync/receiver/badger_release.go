package receiver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

// Releases in the Badger store: the artifacts as files in releases/ of
// the data directory (written to a temporary file, fsynced, renamed), the
// rest in Badger.
const (
	pRelease  = "rel/"  // + sha256 → Release JSON
	pRollout  = "ro/"   // + id → Rollout JSON
	pUpReport = "urep/" // + gateway 0x00 seq → StoredReport JSON
	kRepSeq   = "meta/urepseq"
)

var _ ReleaseStorage = (*Badger)(nil)

func (b *Badger) releaseDir() string { return filepath.Join(b.dir, "releases") }

func (b *Badger) artifactPath(sha string) string { return filepath.Join(b.releaseDir(), sha) }

// PutRelease implements ReleaseStorage.
func (b *Badger) PutRelease(rel Release, artifact io.Reader) error {
	dir := b.releaseDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("release dir: %w", err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, ".tmp-"+rel.SHA256[:16]+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("release %s: %w", rel.Version, err)
	}
	defer os.Remove(tmp) // gone already once renamed
	_, err = io.Copy(f, artifact)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("release %s artifact: %w", rel.Version, err)
	}
	if err := os.Rename(tmp, b.artifactPath(rel.SHA256)); err != nil {
		return fmt.Errorf("release %s artifact: %w", rel.Version, err)
	}
	syncDir(dir)
	return b.db.Update(func(txn *badger.Txn) error { return setJSON(txn, []byte(pRelease+rel.SHA256), rel) })
}

// syncDir fsyncs a directory so that a rename in it is durable (not on
// Windows, where a directory cannot be opened for it).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Release implements ReleaseStorage.
func (b *Badger) Release(sha string) (Release, error) {
	var rel Release
	err := b.db.View(func(txn *badger.Txn) error { return getJSON(txn, []byte(pRelease+sha), &rel) })
	if err != nil {
		return rel, fmt.Errorf("release %s: %w", sha, err)
	}
	return rel, nil
}

// listJSON decodes every value under prefix with each.
func (b *Badger) listJSON(prefix string, each func(val []byte) error) error {
	return b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(each); err != nil {
				return err
			}
		}
		return nil
	})
}

// Releases implements ReleaseStorage.
func (b *Badger) Releases() ([]Release, error) {
	var out []Release
	err := b.listJSON(pRelease, func(v []byte) error {
		var rel Release
		if err := jsonUnmarshal(v, &rel); err != nil {
			return err
		}
		out = append(out, rel)
		return nil
	})
	SortReleases(out)
	return out, err
}

// SortReleases sorts releases oldest first.
func SortReleases(rels []Release) {
	sort.SliceStable(rels, func(i, j int) bool {
		if !rels[i].Pushed.Equal(rels[j].Pushed) {
			return rels[i].Pushed.Before(rels[j].Pushed)
		}
		return rels[i].SHA256 < rels[j].SHA256
	})
}

// ReadArtifact implements ReleaseStorage.
func (b *Badger) ReadArtifact(sha string, off int64, p []byte) error {
	f, err := os.Open(b.artifactPath(sha))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release %s: artifact: %w", sha, ErrNotFound)
	} else if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(p, off); err != nil {
		return fmt.Errorf("release %s: artifact at %d: %w", sha, off, err)
	}
	return nil
}

// CreateRollout implements ReleaseStorage.
func (b *Badger) CreateRollout(ro Rollout) error {
	return b.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte(pRollout + ro.ID)); err == nil {
			return fmt.Errorf("rollout %s: %w", ro.ID, ErrExists)
		}
		return setJSON(txn, []byte(pRollout+ro.ID), ro)
	})
}

// UpdateRollout implements ReleaseStorage. Badger's conflict detection
// is off (writers are serialized by the receiver): the rollouts are, by
// cmdMu.
func (b *Badger) UpdateRollout(id string, update func(ro *Rollout) error) (Rollout, error) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	var ro Rollout
	err := b.db.Update(func(txn *badger.Txn) error {
		ro = Rollout{}
		if err := getJSON(txn, []byte(pRollout+id), &ro); err != nil {
			return fmt.Errorf("rollout %s: %w", id, err)
		}
		if err := update(&ro); err != nil {
			return err
		}
		ro.ID = id
		return setJSON(txn, []byte(pRollout+id), ro)
	})
	return ro, err
}

// Rollout implements ReleaseStorage.
func (b *Badger) Rollout(id string) (Rollout, error) {
	var ro Rollout
	err := b.db.View(func(txn *badger.Txn) error { return getJSON(txn, []byte(pRollout+id), &ro) })
	if err != nil {
		return ro, fmt.Errorf("rollout %s: %w", id, err)
	}
	return ro, nil
}

// Rollouts implements ReleaseStorage.
func (b *Badger) Rollouts() ([]Rollout, error) {
	var out []Rollout
	err := b.listJSON(pRollout, func(v []byte) error {
		var ro Rollout
		if err := jsonUnmarshal(v, &ro); err != nil {
			return err
		}
		out = append(out, ro)
		return nil
	})
	SortRollouts(out)
	return out, err
}

// SortRollouts sorts rollouts oldest first.
func SortRollouts(ros []Rollout) {
	sort.SliceStable(ros, func(i, j int) bool {
		if !ros[i].Created.Equal(ros[j].Created) {
			return ros[i].Created.Before(ros[j].Created)
		}
		return ros[i].ID < ros[j].ID
	})
}

// AddUpdateReport implements ReleaseStorage.
func (b *Badger) AddUpdateReport(rep StoredReport) error {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	return b.db.Update(func(txn *badger.Txn) error {
		var seq uint64
		if err := getJSON(txn, []byte(kRepSeq), &seq); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		seq++
		if err := setJSON(txn, []byte(kRepSeq), seq); err != nil {
			return err
		}
		if err := setJSON(txn, gwSubKey(pUpReport, rep.Gateway, seq), rep); err != nil {
			return err
		}
		// Keep the newest MaxReportsPerGateway: delete from the oldest.
		var keys [][]byte
		it := txn.NewIterator(badger.IteratorOptions{Prefix: gwSubKey(pUpReport, rep.Gateway)})
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for len(keys) > MaxReportsPerGateway {
			if err := txn.Delete(keys[0]); err != nil {
				return err
			}
			keys = keys[1:]
		}
		return nil
	})
}

// UpdateReports implements ReleaseStorage.
func (b *Badger) UpdateReports(gw string) ([]StoredReport, error) {
	var out []StoredReport
	err := b.listJSON(string(gwSubKey(pUpReport, gw)), func(v []byte) error {
		var rep StoredReport
		if err := jsonUnmarshal(v, &rep); err != nil {
			return err
		}
		out = append(out, rep)
		return nil
	})
	return out, err
}

var jsonUnmarshal = json.Unmarshal
