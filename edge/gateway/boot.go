package gateway

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/version"
)

// processBoot anchors events in the process's start where the OS names no
// boot: a random id ("p-" and 32 hex digits) and the time since, read on
// the gateway's clock (its monotonic part, for the system clock).
type processBoot struct {
	id    string
	c     edge.Clock
	start time.Time
}

func newProcessBoot(c edge.Clock) *processBoot {
	return &processBoot{id: "p-" + rand.Text(), c: c, start: c.Now()}
}

func (b *processBoot) Boot() (string, time.Duration) {
	return b.id, max(b.c.Now().Sub(b.start), 0)
}

// The clock floor (edge.ClockFloor) is kept in the data directory.
const (
	floorFile = "clock-floor.json"
	// FloorInterval is how often the gateway raises and saves the floor
	// while its clock is confirmed good (and once more at shutdown).
	FloorInterval = 5 * time.Minute
)

type floorRecord struct {
	Floor time.Time `json:"floor"`
}

// LoadClockFloor returns the clock floor of data directory dir: the latest
// of the saved floor, the binary's build date (internal/version.Date, when
// stamped) and edge.MinClockFloor. A missing file is no error; an
// unreadable one is, with the floor still made from the rest.
func LoadClockFloor(dir string) (*edge.ClockFloor, error) {
	var build time.Time
	if t, err := time.Parse(time.RFC3339, version.Get().Date); err == nil {
		build = t
	}
	var rec floorRecord
	b, err := edge.ReadFileLimit(filepath.Join(dir, floorFile), 1<<20)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = nil
	case err == nil:
		if jerr := json.Unmarshal(b, &rec); jerr != nil {
			rec, err = floorRecord{}, fmt.Errorf("clock floor %s: %w", filepath.Join(dir, floorFile), jerr)
		}
	default:
		err = fmt.Errorf("clock floor: %w", err)
	}
	return edge.NewClockFloor(rec.Floor, build), err
}

// SaveClockFloor writes f to data directory dir atomically.
func SaveClockFloor(dir string, f *edge.ClockFloor) error {
	b, _ := json.Marshal(floorRecord{Floor: f.Time()}) // a time always marshals
	if err := writeAtomic(filepath.Join(dir, floorFile), b); err != nil {
		return fmt.Errorf("save clock floor: %w", err)
	}
	return nil
}
