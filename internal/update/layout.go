// Package update updates the gateway in place, the way a Greengrass
// loader does, inside the one binary: `edgegw service run` is the loader;
// it runs the current version as a child process, tries a staged new one
// (it must prove healthy within a deadline, else it is retried and then
// rolled back), and the Manager inside the running gateway downloads and
// verifies the releases the central platform assigns (PROTOCOL.md §6a).
//
// The update directory D holds:
//
//	D/versions/<version>/edgegw[.exe]   verified artifacts (and manifest.json)
//	D/current, previous, new, broken    pointers to versions (symlinks on
//	                                    Linux, small files on Windows)
//	D/trial.json                        the trial of new: attempts, exit codes
//	D/health.json                       written by a trial that proved healthy
//	D/reports/<n>.json                  reports not yet posted to the central
//	D/download/<sha256>.part            the download in progress
//
// An empty or missing current means the installed binary: the one the
// service manager starts.
package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/wire"
)

// maxRecord bounds the small files of an update directory (trial.json,
// health.json, a report, a pointer, child.pid) when they are read back: a
// damaged one is an error, not an unbounded read.
const maxRecord = 1 << 20

// The pointers of an update directory.
const (
	Current  = "current"
	Previous = "previous"
	New      = "new"
	Broken   = "broken"
)

// ExitRestart is the exit status of a gateway that staged a new version
// and asks its loader to restart into it. 75 is taken (the disk is full),
// so it is the first code past sysexits(3).
const ExitRestart = cli.ExitRestart

// ErrRestart is what the gateway returns when it stops to restart into a
// staged version.
var ErrRestart = errors.New("restart into the staged version")

// Environment of a child the loader starts.
const (
	// EnvChild=1 tells `edgegw service run` that a loader supervises it:
	// it runs the gateway in-process.
	EnvChild = "EDGEGW_UPDATE_CHILD"
	// EnvTrial=<version> tells the child it is on trial: it writes
	// health.json once healthy.
	EnvTrial = "EDGEGW_UPDATE_TRIAL"
)

// Dir is an update directory.
type Dir string

func (d Dir) path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// BinaryName is the artifact's file name in a version's directory.
func BinaryName() string {
	if runtime.GOOS == "windows" {
		return "edgegw.exe"
	}
	return "edgegw"
}

// Binary is the path of version v's executable.
func (d Dir) Binary(v string) string { return d.path("versions", v, BinaryName()) }

// Pointer reads pointer name: the version it names, "" when unset.
func (d Dir) Pointer(name string) (string, error) {
	v, err := readPointer(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("update pointer %s: %w", name, err)
	}
	return v, nil
}

// SetPointer points name at version v atomically ("" removes it).
func (d Dir) SetPointer(name, v string) error {
	if v == "" {
		if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("update pointer %s: %w", name, err)
		}
		return nil
	}
	if !validVersion(v) {
		return fmt.Errorf("update pointer %s: bad version %q", name, v)
	}
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		return fmt.Errorf("update pointer %s: %w", name, err)
	}
	if err := writePointer(d.path(name), v); err != nil {
		return fmt.Errorf("update pointer %s: %w", name, err)
	}
	return nil
}

// validVersion: a version names a directory, so it may hold no separator.
func validVersion(v string) bool {
	return v != "" && v != "." && v != ".." && !strings.ContainsAny(v, `/\:`) && len(v) <= 64
}

// Pointers are the four pointers at once.
type Pointers struct {
	Current, Previous, New, Broken string
}

// Pointers reads the four pointers.
func (d Dir) Pointers() (Pointers, error) {
	var p Pointers
	var errs []error
	for _, x := range []struct {
		name string
		dst  *string
	}{{Current, &p.Current}, {Previous, &p.Previous}, {New, &p.New}, {Broken, &p.Broken}} {
		v, err := d.Pointer(x.name)
		errs = append(errs, err)
		*x.dst = v
	}
	return p, errors.Join(errs...)
}

// Trial is D/trial.json: the trial of the staged version.
type Trial struct {
	Version   string    `json:"version"`
	Attempts  int       `json:"attempts"`
	Started   time.Time `json:"started,omitzero"`
	ExitCodes []int     `json:"exit_codes,omitempty"`
	Reasons   []string  `json:"reasons,omitempty"`
	Rollout   string    `json:"rollout,omitempty"`
	From      string    `json:"from,omitempty"`
}

// Trial reads trial.json; ok is false when there is none.
func (d Dir) Trial() (t Trial, ok bool, err error) {
	ok, err = readJSON(d.path("trial.json"), &t)
	return t, ok, err
}

// SetTrial writes trial.json durably.
func (d Dir) SetTrial(t Trial) error { return writeJSON(d.path("trial.json"), t) }

// ClearTrial removes trial.json.
func (d Dir) ClearTrial() error { return removeFile(d.path("trial.json")) }

// Health is D/health.json, written by a trial once it is healthy.
type Health struct {
	Version string    `json:"version"`
	OKAt    time.Time `json:"ok_at"`
}

// Health reads health.json; ok is false when there is none.
func (d Dir) Health() (h Health, ok bool, err error) {
	ok, err = readJSON(d.path("health.json"), &h)
	return h, ok, err
}

// SetHealth writes health.json durably.
func (d Dir) SetHealth(h Health) error { return writeJSON(d.path("health.json"), h) }

// ClearHealth removes health.json.
func (d Dir) ClearHealth() error { return removeFile(d.path("health.json")) }

// AddReport queues a report for the central platform. Its file name
// sorts by the report's time and is unique across processes (the loader
// and the gateway it runs both write reports).
func (d Dir) AddReport(r wire.UpdateReport) error {
	if len(r.LogTail) > wire.MaxLogTail {
		r.LogTail = r.LogTail[len(r.LogTail)-wire.MaxLogTail:]
	}
	name := fmt.Sprintf("%019d-%d-%d.json", max(r.At.UnixNano(), 0), os.Getpid(), reportSeq.Add(1))
	return writeJSON(d.path("reports", name), r)
}

var reportSeq atomic.Uint64

// Reports lists the pending reports' paths, oldest first.
func (d Dir) Reports() ([]string, error) {
	es, err := os.ReadDir(d.path("reports"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update reports: %w", err)
	}
	var names []string
	for _, e := range es {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, d.path("reports", n))
		}
	}
	slices.Sort(names)
	return names, nil
}

// ReadReport reads one pending report.
func ReadReport(path string) (wire.UpdateReport, error) {
	var r wire.UpdateReport
	_, err := readJSON(path, &r)
	return r, err
}

// Versions lists the versions held in D/versions.
func (d Dir) Versions() ([]string, error) {
	es, err := os.ReadDir(d.path("versions"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update versions: %w", err)
	}
	var vs []string
	for _, e := range es {
		if e.IsDir() {
			vs = append(vs, e.Name())
		}
	}
	return vs, nil
}

// Prune removes the versions no pointer names (current, previous, new
// and broken stay) and the partial downloads.
func (d Dir) Prune() error {
	p, err := d.Pointers()
	if err != nil {
		return err
	}
	vs, err := d.Versions()
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vs {
		if v != p.Current && v != p.Previous && v != p.New && v != p.Broken {
			errs = append(errs, os.RemoveAll(d.path("versions", v)))
		}
	}
	errs = append(errs, os.RemoveAll(d.path("download")))
	return errors.Join(errs...)
}

// Manifest reads the manifest kept beside version v's binary (unverified:
// it was verified when the version was staged).
func (d Dir) Manifest(v string) (wire.Manifest, bool) {
	b, err := edge.ReadFileLimit(d.path("versions", v, "manifest.json"), wire.MaxManifest)
	if err != nil {
		return wire.Manifest{}, false
	}
	m, err := wire.ManifestUnverified(b)
	return m, err == nil
}

func readJSON(path string, v any) (bool, error) {
	b, err := edge.ReadFileLimit(path, maxRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// writeJSON writes v to path durably: a temporary file, fsync, rename,
// fsync of the directory.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o640)
}

func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := wire.WriteFileAtomic(path, b, perm); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// KeepBinary copies the executable src into version v's directory (tmp,
// fsync, rename), unless that version is already there. The loader keeps
// the installed binary this way when a first update commits, so that
// previous names a binary of its own: a rollback does not depend on the
// installed file, which a package manager may replace at any time.
func (d Dir) KeepBinary(v, src string) error {
	if !validVersion(v) {
		return fmt.Errorf("keep version %q: bad version", v)
	}
	dst := d.Binary(v)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("keep version %s: %w", v, err)
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("keep version %s: %w", v, err)
	}
	if err := wire.WriteFileAtomicFrom(dst, io.LimitReader(in, wire.MaxArtifact+1), 0o755); err != nil {
		return fmt.Errorf("keep version %s: %w", v, err)
	}
	syncDir(dir)
	return nil
}
