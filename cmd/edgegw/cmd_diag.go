package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/version"
)

func init() {
	var (
		target statusTarget
		out    string
	)
	app.Register(&cli.Command{
		Name:  "diag",
		Short: "write a support bundle (zip): config without secrets, logs, status, versions",
		Usage: `Writes a zip for support:
  MANIFEST.txt   what is in it, and what is missing and why
  version.json   this binary's version, Go version, OS/arch
  config.yaml    the config, with every secret replaced by "<redacted>"
                 (password_hash, the uplink key, any field named like key,
                 secret, password or token)
  status.json    the running gateway's status (devices, alerts, sync, store)
  logs.txt       the gateway's recent log lines
  metrics.txt    /metrics
  store.txt      store statistics, or the data directory's files when the
                 gateway is not running
It asks the running gateway's status API (like 'edgegw status'); when the
gateway is not running it still writes what it can from --config.

Examples:
  edgegw diag --config /etc/edgegw/edgegw.yaml
  edgegw diag --url http://127.0.0.1:8780 --out /tmp/site12.zip`,
		Flags: func(fs *flag.FlagSet) {
			target.flags(fs)
			fs.StringVar(&out, "out", "", "zip `file` to write (default: edgegw-diag-<time>.zip here)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			if target.configPath == "" {
				if p := service.DefaultConfigPath(); fileExists(p) {
					target.configPath = p
				}
			}
			if out == "" {
				out = "edgegw-diag-" + time.Now().UTC().Format("20060102-150405") + ".zip"
			}
			b, err := collectDiag(ctx, &target)
			if err != nil {
				return err
			}
			if err := b.write(out); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s (%d files)\n", out, len(b.files))
			for _, m := range b.missing {
				fmt.Fprintf(env.Stdout, "  missing: %s\n", m)
			}
			return nil
		},
	})
}

type diagBundle struct {
	files   map[string][]byte
	missing []string
}

func (b *diagBundle) add(name string, data []byte) { b.files[name] = data }
func (b *diagBundle) miss(format string, a ...any) {
	b.missing = append(b.missing, fmt.Sprintf(format, a...))
}

func collectDiag(ctx context.Context, t *statusTarget) (*diagBundle, error) {
	b := &diagBundle{files: map[string][]byte{}}
	vi, _ := json.MarshalIndent(version.Get(), "", "  ")
	b.add("version.json", append(vi, '\n'))

	if t.configPath == "" {
		b.miss("config.yaml: no --config given and none at %s", service.DefaultConfigPath())
	} else if raw, err := os.ReadFile(t.configPath); err != nil {
		b.miss("config.yaml: %v", err)
	} else if red, err := redactConfig(raw); err != nil {
		b.miss("config.yaml: %s does not parse as YAML, left out rather than risk a secret: %v", t.configPath, err)
	} else {
		b.add("config.yaml", red)
	}

	c, err := t.client()
	if err != nil {
		b.miss("status, logs, metrics: %v", err)
		c = nil
	}
	var snap *status.Snapshot
	if c != nil {
		cctx, cancel := context.WithTimeout(ctx, t.timeout)
		defer cancel()
		var raw []byte
		snap, raw, err = c.Status(cctx)
		switch {
		case err != nil:
			b.miss("status.json, logs.txt, metrics.txt: %v", err)
		default:
			b.add("status.json", raw)
			if lines, err := c.Logs(cctx); err != nil {
				b.miss("logs.txt: %v", err)
			} else {
				b.add("logs.txt", []byte(strings.Join(lines, "\n")+"\n"))
			}
			if m, err := c.Metrics(cctx); err != nil {
				b.miss("metrics.txt: %v", err)
			} else {
				b.add("metrics.txt", m)
			}
		}
	}
	if snap != nil {
		st, _ := json.MarshalIndent(snap.Store, "", "  ")
		b.add("store.txt", append([]byte("store statistics from the running gateway:\n"), append(st, '\n')...))
	} else if dir := storeDir(t.configPath); dir != "" {
		if listing, err := listDir(dir); err != nil {
			b.miss("store.txt: %v", err)
		} else {
			b.add("store.txt", listing)
		}
	}

	var man strings.Builder
	fmt.Fprintf(&man, "edgegw support bundle\ncreated: %s\nby: %s\nhost: %s\n", time.Now().UTC().Format(time.RFC3339), version.Get(), hostname())
	if snap != nil {
		fmt.Fprintf(&man, "gateway: %s (%s), version %s\n", snap.GatewayID, snap.Site, snap.Version)
	}
	names := make([]string, 0, len(b.files))
	for n := range b.files {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&man, "\nincluded:\n")
	for _, n := range names {
		fmt.Fprintf(&man, "  %s (%d bytes)\n", n, len(b.files[n]))
	}
	if len(b.missing) > 0 {
		fmt.Fprintf(&man, "\nmissing:\n")
		for _, m := range b.missing {
			fmt.Fprintf(&man, "  %s\n", m)
		}
	}
	b.add("MANIFEST.txt", []byte(man.String()))
	return b, nil
}

func (b *diagBundle) write(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	names := make([]string, 0, len(b.files))
	for n := range b.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: time.Now()})
		if err == nil {
			_, err = w.Write(b.files[n])
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// secretKey reports whether a config key names a secret: one of its words
// (split at _ - . and case changes) is key, secret, password, token, pin...
// "api_key", "password_hash", "sim_pin" are secrets; "mapping", "keepalive"
// are not.
func secretKey(k string) bool {
	var words []string
	cur := []rune{}
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range k {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur = append(cur, r)
		prevLower = unicode.IsLower(r)
	}
	flush()
	for _, w := range words {
		switch strings.TrimSuffix(w, "s") {
		case "key", "apikey", "secret", "password", "passwd", "pass", "token", "credential", "pin", "psk", "auth":
			return true
		}
	}
	return false
}

const redacted = "<redacted>"

// redactConfig re-encodes a YAML config with every secret replaced. Keys
// and order are kept; comments are not (a comment may hold a secret too).
func redactConfig(raw []byte) ([]byte, error) {
	var v any
	if err := yaml.UnmarshalWithOptions(raw, &v, yaml.UseOrderedMap()); err != nil {
		return nil, err
	}
	v = redactValue(v)
	out, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte("# edgegw config, secrets redacted by 'edgegw diag'\n"), out...), nil
}

func redactValue(v any) any {
	switch t := v.(type) {
	case yaml.MapSlice:
		for i := range t {
			if k, ok := t[i].Key.(string); ok && secretKey(k) {
				if t[i].Value != nil && t[i].Value != "" {
					t[i].Value = redacted
				}
				continue
			}
			t[i].Value = redactValue(t[i].Value)
		}
		return t
	case map[string]any:
		for k, x := range t {
			if secretKey(k) {
				t[k] = redacted
			} else {
				t[k] = redactValue(x)
			}
		}
		return t
	case []any:
		for i := range t {
			t[i] = redactValue(t[i])
		}
		return t
	case string:
		if strings.HasPrefix(t, "pbkdf2-sha256$") {
			return redacted
		}
	}
	return v
}

// storeDir is the config's store.dir, or the platform default.
func storeDir(configPath string) string {
	var f struct {
		Store struct {
			Dir string `yaml:"dir"`
		} `yaml:"store"`
	}
	if configPath != "" {
		if b, err := os.ReadFile(configPath); err == nil {
			_ = yaml.Unmarshal(b, &f)
		}
	}
	if f.Store.Dir != "" {
		return f.Store.Dir
	}
	if runtime.GOOS == "windows" {
		return service.WindowsDataDir()
	}
	return service.LinuxDataDir
}

func listDir(dir string) ([]byte, error) {
	var b strings.Builder
	var total int64
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
		total += info.Size()
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "  %12d  %s  %s\n", info.Size(), info.ModTime().UTC().Format(time.RFC3339), rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	fmt.Fprintf(&b, "total %d bytes\n", total)
	return []byte(b.String()), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
