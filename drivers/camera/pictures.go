package camera

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Pictures is a bounded folder of alarm pictures: at most MaxBytes and
// MaxFiles, the oldest evicted first. Only the files it names
// (*.jpg with its prefix-free name scheme) are counted and evicted.
type Pictures struct {
	dir                string
	maxBytes, maxFiles int64

	mu      sync.Mutex
	files   []picFile // oldest first
	total   int64
	seq     uint64
	evicted uint64
}

type picFile struct {
	name string
	size int64
}

// OpenPictures opens (and creates) dir and indexes the pictures already in it.
func OpenPictures(dir string, maxBytes, maxFiles int64) (*Pictures, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("picture folder %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("picture folder %s: %w", dir, err)
	}
	p := &Pictures{dir: dir, maxBytes: maxBytes, maxFiles: maxFiles}
	type aged struct {
		picFile
		mod time.Time
	}
	var old []aged
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(dir, e.Name())) // a write a crash cut short
			continue
		}
		if !strings.HasSuffix(e.Name(), ".jpg") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		old = append(old, aged{picFile{e.Name(), fi.Size()}, fi.ModTime()})
	}
	sort.Slice(old, func(i, j int) bool {
		if !old[i].mod.Equal(old[j].mod) {
			return old[i].mod.Before(old[j].mod)
		}
		return old[i].name < old[j].name
	})
	for _, f := range old {
		p.files = append(p.files, f.picFile)
		p.total += f.size
	}
	p.mu.Lock()
	p.evictFor(0)
	p.mu.Unlock()
	return p, nil
}

// Save writes a picture of device taken at t and returns its file name,
// evicting the oldest pictures to make room.
func (p *Pictures) Save(device string, t time.Time, b []byte) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int64(len(b)) > p.maxBytes {
		return "", fmt.Errorf("picture of %d bytes: %w: the folder holds %d", len(b), ErrTooLarge, p.maxBytes)
	}
	p.seq++
	name := fmt.Sprintf("%s_%s_%04d.jpg", safeName(device), t.UTC().Format("20060102T150405.000Z"), p.seq%10000)
	tmp := filepath.Join(p.dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write picture %s: %w", tmp, err)
	}
	p.evictFor(int64(len(b)))
	if err := os.Rename(tmp, filepath.Join(p.dir, name)); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write picture %s: %w", name, err)
	}
	p.files = append(p.files, picFile{name, int64(len(b))})
	p.total += int64(len(b))
	return name, nil
}

// evictFor removes the oldest pictures until one of size n fits (n = 0:
// until the folder is within bounds).
func (p *Pictures) evictFor(n int64) {
	extra := int64(0)
	if n > 0 {
		extra = 1
	}
	for len(p.files) > 0 && (p.total+n > p.maxBytes || int64(len(p.files))+extra > p.maxFiles) {
		f := p.files[0]
		p.files = p.files[1:]
		p.total -= f.size
		p.evicted++
		_ = os.Remove(filepath.Join(p.dir, f.name))
	}
}

// Usage returns the pictures kept, their bytes, and how many were evicted.
func (p *Pictures) Usage() (files int, bytes int64, evicted uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.files), p.total, p.evicted
}

// safeName keeps a device id usable as a file name on every OS.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// PictureDir returns the picture folder a camera input's options name, ""
// when none (or when the options do not decode: the driver reports that).
// The uplink uploads the pictures of this folder that events name.
func PictureDir(opts edge.Options) string {
	var o Options
	if opts == nil || opts.Decode(&o) != nil {
		return ""
	}
	return o.Pictures.Dir
}
