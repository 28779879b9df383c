package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/wire"
)

// Files the events name (camera pictures: an event of point "<point>_picture"
// whose text is the file name) go to the central platform with
// PUT /v1/files/{name}, at the lowest priority: one at a time, only while
// the event lanes have nothing to send. The names wait in a small durable
// queue in the state store; the files stay where they are (the camera's
// folder evicts its oldest pictures itself).

// stateFiles is the StateStore key of the queue of files to upload.
const stateFiles = "uplink/files"

// PictureSuffix ends the point of an event that names a picture file.
const PictureSuffix = "_picture"

const (
	// maxPendingFiles bounds the queue: past it the oldest name is dropped
	// (its picture is the first the camera's folder evicts anyway).
	maxPendingFiles = 256
	// maxFileTries is how many uploads of one file may fail transiently
	// before it is given up.
	maxFileTries = 5
)

// pendingFile is one name in the queue.
type pendingFile struct {
	Name  string `json:"name"`
	Tries int    `json:"tries,omitempty"`
}

// FileStats counts the uploads of files the events name.
type FileStats struct {
	Pending int    `json:"pending"` // names queued
	Sent    uint64 `json:"sent"`    // files the central platform stored
	Missing uint64 `json:"missing"` // evicted (or never kept) before their upload: skipped
	Failed  uint64 `json:"failed"`  // refused by the central platform, too large, or out of tries
	Dropped uint64 `json:"dropped"` // names dropped from a full queue
}

// Files returns the file upload counters.
func (u *Uplink) Files() FileStats {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	q, _ := u.loadFiles()
	st := u.fstats
	st.Pending = len(q)
	return st
}

// loadFiles reads the queue (u.fmu held).
func (u *Uplink) loadFiles() ([]pendingFile, error) {
	b, err := u.o.State.GetState(stateFiles)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	var q []pendingFile
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, nil // a broken queue is dropped, not fatal
	}
	return q, nil
}

// saveFiles writes the queue (u.fmu held).
func (u *Uplink) saveFiles(q []pendingFile) error {
	if len(q) == 0 {
		return u.o.State.DeleteState(stateFiles)
	}
	b, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return u.o.State.PutState(stateFiles, b)
}

// queueFiles notes the files the acknowledged events name.
func (u *Uplink) queueFiles(evs []edge.Event) {
	if len(u.o.FilesDirs) == 0 {
		return
	}
	var names []string
	for i := range evs {
		if strings.HasSuffix(evs[i].Point, PictureSuffix) && wire.ValidFileName(evs[i].Text) {
			names = append(names, evs[i].Text)
		}
	}
	if len(names) == 0 {
		return
	}
	u.fmu.Lock()
	defer u.fmu.Unlock()
	q, _ := u.loadFiles()
	for _, n := range names {
		dup := false
		for _, p := range q {
			dup = dup || p.Name == n
		}
		if !dup {
			q = append(q, pendingFile{Name: n})
		}
	}
	if over := len(q) - maxPendingFiles; over > 0 {
		q = q[over:]
		u.fstats.Dropped += uint64(over)
	}
	if err := u.saveFiles(q); err != nil {
		u.logs.Warn("files queue", "file queue not saved", "err", err)
	}
}

// drained reports whether the main lane has nothing left to send.
func (u *Uplink) drained() bool {
	next, err := u.o.Log.Cursor(edge.CursorUplink)
	return err == nil && u.o.Log.LastSeq() < next
}

// sendFile uploads the first queued file when the event lanes are idle. It
// reports whether it did something (sent, skipped or gave one up); err is
// a transient failure to back off from (the file stays queued).
func (u *Uplink) sendFile(ctx context.Context) (bool, error) {
	if len(u.o.FilesDirs) == 0 || !u.drained() {
		return false, nil
	}
	u.fmu.Lock()
	q, _ := u.loadFiles()
	u.fmu.Unlock()
	if len(q) == 0 {
		return false, nil
	}
	f := q[0]
	body, err := u.readFile(f.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		u.log.Info("file to upload is gone: skipped", "name", f.Name)
		return true, u.doneFile(f.Name, func(s *FileStats) { s.Missing++ })
	case err != nil:
		u.log.Warn("file to upload unreadable: given up", "name", f.Name, "err", err)
		return true, u.doneFile(f.Name, func(s *FileStats) { s.Failed++ })
	}
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	ex, err := u.c.do(nctx, http.MethodPut, wire.FilePath(f.Name), body, h, wire.MaxSmallResponse)
	u.noteResult(ex, err)
	switch {
	case err == nil:
		u.log.Debug("file uploaded", "name", f.Name, "bytes", len(body))
		return true, u.doneFile(f.Name, func(s *FileStats) { s.Sent++ })
	case errors.Is(err, ErrRejected):
		u.log.Warn("file refused by central: given up", "name", f.Name, "err", err)
		return true, u.doneFile(f.Name, func(s *FileStats) { s.Failed++ })
	case errors.Is(err, context.Canceled) || errors.Is(err, errStopped):
		return false, err
	}
	f.Tries++
	if f.Tries >= maxFileTries {
		u.log.Warn("file upload failed too often: given up", "name", f.Name, "tries", f.Tries, "err", err)
		if derr := u.doneFile(f.Name, func(s *FileStats) { s.Failed++ }); derr != nil {
			return true, derr
		}
		return true, err
	}
	u.fmu.Lock()
	defer u.fmu.Unlock()
	if q, _ := u.loadFiles(); len(q) > 0 && q[0].Name == f.Name {
		q[0].Tries = f.Tries
		if serr := u.saveFiles(q); serr != nil {
			return false, serr
		}
	}
	return false, fmt.Errorf("upload file %s: %w", f.Name, err)
}

// doneFile takes name off the queue and counts the outcome.
func (u *Uplink) doneFile(name string, count func(*FileStats)) error {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	count(&u.fstats)
	q, _ := u.loadFiles()
	for i := range q {
		if q[i].Name == name {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if err := u.saveFiles(q); err != nil {
		return fmt.Errorf("file queue: %w", err)
	}
	return nil
}

// readFile reads name from the first folder that has it, at most
// wire.MaxFileBody bytes (a larger file is an error, not ErrNotExist).
func (u *Uplink) readFile(name string) ([]byte, error) {
	for _, dir := range u.o.FilesDirs {
		fh, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(fh, wire.MaxFileBody+1))
		fh.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > wire.MaxFileBody {
			return nil, fmt.Errorf("file %s: over the limit of %d bytes", name, wire.MaxFileBody)
		}
		return b, nil
	}
	return nil, fmt.Errorf("file %s: %w", name, fs.ErrNotExist)
}

// fileRetryWait is the wait after a failed file upload: the event lanes'
// own backoff, kept apart so that their successes do not reset it.
func (u *Uplink) fileRetryWait(ctx context.Context, b *edge.Backoff, wake <-chan struct{}) error {
	d := b.Next()
	u.logs.Warn("file upload failed", "file upload failed, backing off", "wait", d.Round(time.Millisecond))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
	case <-u.pauseChanged():
	case <-u.clk.After(d):
	}
	return nil
}
