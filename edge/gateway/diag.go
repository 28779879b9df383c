package gateway

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/version"
)

// DiagLimit bounds a support bundle: the sum of its files before
// compression. What does not fit is cut (the oldest log lines first) and
// the bundle's MANIFEST.txt says what was cut. The zip of it must fit the
// protocol's attachment limit (sync/wire.MaxAttachment, 4 MiB) even if
// nothing compresses, so the limit stays under it with room for the zip's
// own headers.
const DiagLimit = 4<<20 - 256<<10

// manifestReserve is kept out of the files' budget for MANIFEST.txt.
const manifestReserve = 64 << 10

// DiagSource is where the live parts of a bundle come from: the gateway
// itself (Gateway.Diagnostics, for the central platform's send_diagnostics)
// or its status API (`edgegw diag`, through a *status.Client).
type DiagSource interface {
	// Status returns the snapshot and its JSON.
	Status(ctx context.Context) (*status.Snapshot, []byte, error)
	// Logs returns the recent log lines, oldest first.
	Logs(ctx context.Context) ([]string, error)
	// Metrics returns /metrics in the Prometheus text format.
	Metrics(ctx context.Context) ([]byte, error)
}

// DiagOptions say what goes into a support bundle.
type DiagOptions struct {
	// ConfigPath is the local config file; it goes in redacted as
	// config.yaml. Empty: there is none.
	ConfigPath string
	// DataDir is the data directory: the config last pushed by the central
	// platform goes in redacted from it, and its files are listed when the
	// gateway does not answer. Empty: store.dir of ConfigPath, else the
	// platform default.
	DataDir string
	// Source is the running gateway. Nil: not running, and NotRunning says
	// why (in MANIFEST.txt).
	Source     DiagSource
	NotRunning error
	// Limit bounds the bundle. Default: DiagLimit.
	Limit int
	// Clock stamps the bundle. Default: the system clock.
	Clock edge.Clock
}

// Bundle is a support bundle's files before they are zipped.
type Bundle struct {
	Created time.Time
	// Missing says, one line each, what could not be included and why.
	Missing []string
	// Truncated says, one line each, what was cut to keep within the limit.
	Truncated []string

	files  map[string][]byte
	limit  int
	budget int
	// secrets are the values redacted from the configs; they are also
	// scrubbed from the logs, the status and the metrics.
	secrets []string
}

// Names returns the bundle's file names, sorted.
func (b *Bundle) Names() []string {
	names := make([]string, 0, len(b.files))
	for n := range b.files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// File returns a file of the bundle (nil when absent).
func (b *Bundle) File(name string) []byte { return b.files[name] }

func (b *Bundle) miss(format string, a ...any) {
	b.Missing = append(b.Missing, fmt.Sprintf(format, a...))
}

// add puts a file in within the budget: past it the file is cut, keeping
// its end when tail is set (the newest log lines), its start otherwise,
// at a line boundary.
func (b *Bundle) add(name string, data []byte, tail bool) {
	data = scrub(data, b.secrets)
	if len(data) > b.budget {
		keep := max(b.budget, 0)
		var cut []byte
		if tail {
			cut = data[len(data)-keep:]
			if data[len(data)-keep-1] != '\n' { // drop the partial first line
				if i := bytes.IndexByte(cut, '\n'); i >= 0 {
					cut = cut[i+1:]
				}
			}
		} else {
			cut = data[:keep]
			if i := bytes.LastIndexByte(cut, '\n'); i >= 0 {
				cut = cut[:i+1]
			}
		}
		which := "first"
		if tail {
			which = "last"
		}
		b.Truncated = append(b.Truncated, fmt.Sprintf("%s: kept the %s %d of %d bytes (bundle limit %d bytes)", name, which, len(cut), len(data), b.limit))
		data = cut
	}
	b.budget -= len(data)
	b.files[name] = data
}

// CollectDiagnostics builds a support bundle: the version, the configs
// with every secret redacted, the gateway's status, metrics and recent
// logs (from Source), store statistics or, when the gateway does not
// answer, a listing of its data directory, and a MANIFEST.txt of what is
// in it and what is missing. It never fails: what cannot be read is named
// in the manifest.
func CollectDiagnostics(ctx context.Context, o DiagOptions) *Bundle {
	if o.Limit <= 0 {
		o.Limit = DiagLimit
	}
	if o.Clock == nil {
		o.Clock = edge.SystemClock{}
	}
	b := &Bundle{Created: o.Clock.Now().UTC(), files: map[string][]byte{}, limit: o.Limit, budget: max(o.Limit-manifestReserve, 0)}

	// The configs first: they name the secrets to scrub from the rest.
	var configs [][2]string // name, raw
	if o.ConfigPath == "" {
		b.miss("config.yaml: no config file given")
	} else if raw, err := edge.ReadFileLimit(o.ConfigPath, int64(o.Limit)); err != nil {
		b.miss("config.yaml: %v", err)
	} else {
		configs = append(configs, [2]string{"config.yaml", string(raw)})
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = storeDir(configs)
	}
	pushed := filepath.Join(dataDir, lastGoodFile)
	if raw, err := edge.ReadFileLimit(pushed, int64(o.Limit)); err == nil {
		configs = append(configs, [2]string{lastGoodFile, string(raw)})
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.miss("%s: %v", lastGoodFile, err)
	}
	type redactedConfig struct {
		name string
		data []byte
	}
	var red []redactedConfig
	for _, c := range configs {
		out, secrets, err := RedactConfig([]byte(c[1]))
		if err != nil {
			b.miss("%s: does not parse as YAML, left out rather than risk a secret: %v", c[0], err)
			continue
		}
		b.secrets = append(b.secrets, secrets...)
		red = append(red, redactedConfig{c[0], out})
	}
	vi, _ := json.MarshalIndent(version.Get(), "", "  ")
	b.add("version.json", append(vi, '\n'), false)
	for _, c := range red {
		b.add(c.name, c.data, false)
	}

	var snap *status.Snapshot
	if o.Source == nil {
		why := o.NotRunning
		if why == nil {
			why = errors.New("gateway not running")
		}
		b.miss("status.json, logs.txt, metrics.txt: %v", why)
	} else {
		s, raw, err := o.Source.Status(ctx)
		if err != nil {
			b.miss("status.json, logs.txt, metrics.txt: %v", err)
		} else {
			snap = s
			b.add("status.json", raw, false)
			st, _ := json.MarshalIndent(s.Store, "", "  ")
			b.add("store.txt", append([]byte("store statistics from the running gateway:\n"), append(st, '\n')...), false)
			if m, err := o.Source.Metrics(ctx); err != nil {
				b.miss("metrics.txt: %v", err)
			} else {
				b.add("metrics.txt", m, false)
			}
			if lines, err := o.Source.Logs(ctx); err != nil {
				b.miss("logs.txt: %v", err)
			} else {
				b.add("logs.txt", []byte(strings.Join(lines, "\n")+"\n"), true)
			}
		}
	}
	if snap == nil {
		if listing, err := listDir(dataDir, b.budget); err != nil {
			b.miss("store.txt: %v", err)
		} else {
			b.add("store.txt", listing, false)
		}
	}
	b.files["MANIFEST.txt"] = b.manifest(snap)
	return b
}

func (b *Bundle) manifest(snap *status.Snapshot) []byte {
	var m strings.Builder
	fmt.Fprintf(&m, "edgegw support bundle\ncreated: %s\nby: %s\nhost: %s\n", b.Created.Format(time.RFC3339), version.Get(), hostname())
	if snap != nil {
		fmt.Fprintf(&m, "gateway: %s (%s), version %s\n", snap.GatewayID, snap.Site, snap.Version)
	}
	fmt.Fprintf(&m, "limit: %d bytes before compression\n", b.limit)
	fmt.Fprintf(&m, "secrets: redacted in the configs (keys, password hashes, PINs, tokens, phone numbers); %d values also scrubbed from every other file\n", len(b.secrets))
	fmt.Fprintf(&m, "\nincluded:\n")
	for _, n := range b.Names() {
		fmt.Fprintf(&m, "  %s (%d bytes)\n", n, len(b.files[n]))
	}
	if len(b.Truncated) > 0 {
		fmt.Fprintf(&m, "\ntruncated:\n")
		for _, t := range b.Truncated {
			fmt.Fprintf(&m, "  %s\n", t)
		}
	}
	if len(b.Missing) > 0 {
		fmt.Fprintf(&m, "\nmissing:\n")
		for _, x := range b.Missing {
			fmt.Fprintf(&m, "  %s\n", x)
		}
	}
	out := m.String()
	if len(out) > manifestReserve {
		out = out[:manifestReserve-len("...\n")] + "...\n"
	}
	return []byte(out)
}

// Zip returns the bundle as a zip archive.
func (b *Bundle) Zip() ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range b.Names() {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: b.Created})
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", n, err)
		}
		if _, err := w.Write(b.files[n]); err != nil {
			return nil, fmt.Errorf("zip %s: %w", n, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}

// Diagnostics implements edge.Controller: the support bundle of this
// gateway, as `edgegw diag` writes it, for the central platform's
// send_diagnostics command.
func (g *Gateway) Diagnostics(ctx context.Context) ([]byte, error) {
	b := CollectDiagnostics(ctx, DiagOptions{
		ConfigPath: g.opts.ConfigPath,
		DataDir:    g.Config().Store.Dir,
		Source:     localDiag{g},
		Clock:      g.opts.Clock,
	})
	return b.Zip()
}

// localDiag is the running gateway as a DiagSource, without HTTP.
type localDiag struct{ g *Gateway }

func (l localDiag) Status(ctx context.Context) (*status.Snapshot, []byte, error) {
	s, err := l.g.Snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, nil, fmt.Errorf("encode status: %w", err)
	}
	return &s, append(raw, '\n'), nil
}

func (l localDiag) Logs(ctx context.Context) ([]string, error) {
	if l.g.opts.Logs == nil {
		return nil, errors.New("no log ring given to the gateway")
	}
	return l.g.opts.Logs.Lines(), nil
}

func (l localDiag) Metrics(ctx context.Context) ([]byte, error) {
	return status.MetricsText(l.g, l.g.opts.Version)
}

// storeDir is store.dir of the first config that names one, else the
// platform default.
func storeDir(configs [][2]string) string {
	for _, c := range configs {
		var f struct {
			Store struct {
				Dir string `yaml:"dir"`
			} `yaml:"store"`
		}
		if config.Precheck(c[0], []byte(c[1])) != nil {
			continue
		}
		if yaml.Unmarshal([]byte(c[1]), &f) == nil && f.Store.Dir != "" {
			return f.Store.Dir
		}
	}
	return config.DefaultDataDir()
}

// listDir lists the files of the data directory, for a gateway that is not
// running, in at most limit bytes.
func listDir(dir string, limit int) ([]byte, error) {
	var b strings.Builder
	var total int64
	files, cut := 0, 0
	fmt.Fprintf(&b, "the gateway is not running: files of the data directory %s\n", dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files++
		total += info.Size()
		if b.Len() > limit-256 {
			cut++
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "  %12d  %s  %s\n", info.Size(), info.ModTime().UTC().Format(time.RFC3339), rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if cut > 0 {
		fmt.Fprintf(&b, "  ... %d more files not listed\n", cut)
	}
	fmt.Fprintf(&b, "total %d bytes in %d files\n", total, files)
	return []byte(b.String()), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
