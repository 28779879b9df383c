// Command mkdeb builds the .deb of edgegw or edgecentral for one
// architecture with nfpm.
//
// edgegw: the binary, the systemd unit (packaging/systemd/edgegw.service,
// which the product's test TestPackagedUnitUpToDate in edge/service keeps
// equal to what `edgegw service install` writes), the default config as a
// conffile, the data directory, a udev rule for GPIO access, the monitoring
// files and the maintainer scripts (packaging/deb).
//
// edgecentral: the binary, packaging/systemd/edgecentral.service, the
// conffile /etc/default/edgecentral (the flags of `edgecentral serve`), the
// data directory and the maintainer scripts (packaging/deb/edgecentral).
//
// Both get what Debian's policy (and lintian) asks of a package: the
// machine-readable copyright file (packaging/deb/copyright; mkdeb refuses a
// binary that holds a Go module it does not list), a changelog, the man
// pages and lintian overrides for the deliberate deviations.
//
// It lives in the packaging module (packaging/go.mod), so that nfpm and
// its dependencies stay out of the gateway's module; it imports nothing of
// the gateway. From the repository root:
//
//	go -C packaging build -o ../dist/.tools/mkdeb ./cmd/mkdeb
//	dist/.tools/mkdeb --arch amd64 --version 1.2.3 \
//	    --binary dist/edgegw-linux-amd64 --config dist/edgegw.yaml --man dist/man --out dist
//	dist/.tools/mkdeb --package edgecentral --arch amd64 --version 1.2.3 \
//	    --binary dist/edgecentral-linux-amd64 --man dist/man-central --out dist
package main

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// debArch maps our names to nfpm's (GOARCH-style) names; nfpm writes the
// Debian name into the package.
var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64", "armhf": "arm7"}

type options struct {
	pkg, arch, version, commit string
	binary, config, pkgdir     string
	docs, man, out, maintainer string
}

func main() {
	var o options
	flag.StringVar(&o.pkg, "package", "edgegw", "the package: edgegw or edgecentral")
	flag.StringVar(&o.arch, "arch", "amd64", "Debian architecture: amd64, arm64 or armhf")
	flag.StringVar(&o.version, "version", "0.0.0", "package version")
	flag.StringVar(&o.commit, "commit", "", "the commit built, named in the changelog")
	flag.StringVar(&o.binary, "binary", "", "the edgegw (or edgecentral) binary for this architecture")
	flag.StringVar(&o.config, "config", "", "the default config file (edgegw init output); edgegw only")
	flag.StringVar(&o.pkgdir, "packaging", "packaging", "the packaging/ directory (maintainer scripts, udev rule, systemd units, copyright)")
	flag.StringVar(&o.docs, "docs", "docs/install.md", "the guides shipped in /usr/share/doc/PACKAGE under their own names, comma-separated (docs/install.md,docs/central.md)")
	flag.StringVar(&o.man, "man", "", "directory of gzipped man pages (gen-man), shipped in /usr/share/man/man1")
	flag.StringVar(&o.out, "out", "dist", "output directory")
	flag.StringVar(&o.maintainer, "maintainer", envOr("DEB_MAINTAINER", "edgegw maintainers <edgegw@users.noreply.github.com>"), "the Maintainer field (default: $DEB_MAINTAINER)")
	flag.Parse()
	target, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(strings.TrimPrefix(target, "./"))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// mtime is the time of every file in the package: SOURCE_DATE_EPOCH when
// set, else a fixed date, so that the same inputs give the same package.
func mtime() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
}

func build(o options) (string, error) {
	goarch, ok := debArch[o.arch]
	if !ok {
		return "", fmt.Errorf("unknown arch %q (want amd64, arm64 or armhf)", o.arch)
	}
	if o.binary == "" {
		return "", fmt.Errorf("--binary is required")
	}
	mt := mtime()
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root", MTime: mt}
	}
	name := o.pkg
	doc := "/usr/share/doc/" + name
	var (
		contents    files.Contents
		scripts     nfpm.Scripts
		description string
		section     = "net"
	)
	debDir := filepath.Join(o.pkgdir, "deb")
	switch name {
	case "edgegw":
		if o.config == "" {
			return "", fmt.Errorf("--config is required for edgegw")
		}
		contents = files.Contents{
			{Source: o.binary, Destination: "/usr/bin/edgegw", FileInfo: fi(0o755)},
			{Source: filepath.Join(o.pkgdir, "systemd", "edgegw.service"), Destination: "/lib/systemd/system/edgegw.service", FileInfo: fi(0o644)},
			{Source: o.config, Destination: "/etc/edgegw/edgegw.yaml", Type: files.TypeConfigNoReplace, FileInfo: fi(0o640)},
			{Source: filepath.Join(debDir, "60-edgegw-gpio.rules"), Destination: "/lib/udev/rules.d/60-edgegw-gpio.rules", FileInfo: fi(0o644)},
			{Source: filepath.Join(debDir, "edgegw.lintian-overrides"), Destination: "/usr/share/lintian/overrides/edgegw", FileInfo: fi(0o644)},
			{Destination: "/var/lib/edgegw", Type: files.TypeDir, FileInfo: fi(0o750)},
			{Destination: "/etc/edgegw", Type: files.TypeDir, FileInfo: fi(0o755)},
		}
		// Fleet monitoring: a Grafana dashboard and Prometheus alert rules.
		for _, f := range [][2]string{
			{filepath.Join(o.pkgdir, "grafana", "edgegw-fleet.json"), "/usr/share/edgegw/monitoring/edgegw-fleet.json"},
			{filepath.Join(o.pkgdir, "grafana", "README.md"), "/usr/share/edgegw/monitoring/README.md"},
			{filepath.Join(o.pkgdir, "prometheus", "edgegw.rules.yml"), "/usr/share/edgegw/monitoring/edgegw.rules.yml"},
		} {
			if _, err := os.Stat(f[0]); err == nil {
				contents = append(contents, &files.Content{Source: f[0], Destination: f[1], FileInfo: fi(0o644)})
			}
		}
		scripts = nfpm.Scripts{
			PostInstall: filepath.Join(debDir, "postinst"),
			PreRemove:   filepath.Join(debDir, "prerm"),
			PostRemove:  filepath.Join(debDir, "postrm"),
		}
		description = "offline-first edge gateway for residential compounds\n" +
			" Reads serial and GPIO devices, stores every event durably, runs alarm\n" +
			" rules locally and syncs with the central platform when it can."
	case "edgecentral":
		d := filepath.Join(debDir, "edgecentral")
		contents = files.Contents{
			{Source: o.binary, Destination: "/usr/bin/edgecentral", FileInfo: fi(0o755)},
			{Source: filepath.Join(o.pkgdir, "systemd", "edgecentral.service"), Destination: "/lib/systemd/system/edgecentral.service", FileInfo: fi(0o644)},
			{Source: filepath.Join(d, "default"), Destination: "/etc/default/edgecentral", Type: files.TypeConfigNoReplace, FileInfo: fi(0o640)},
			{Source: filepath.Join(d, "edgecentral.lintian-overrides"), Destination: "/usr/share/lintian/overrides/edgecentral", FileInfo: fi(0o644)},
			{Destination: "/var/lib/edgecentral", Type: files.TypeDir, FileInfo: fi(0o750)},
		}
		scripts = nfpm.Scripts{
			PostInstall: filepath.Join(d, "postinst"),
			PreRemove:   filepath.Join(d, "prerm"),
			PostRemove:  filepath.Join(d, "postrm"),
		}
		description = "central platform for edgegw gateways\n" +
			" Receives the gateways' events over HTTP(S), stores each one durably\n" +
			" (embedded NATS JetStream or Badger), pushes configs and commands and\n" +
			" serves the operators' admin API."
	default:
		return "", fmt.Errorf("unknown package %q (want edgegw or edgecentral)", name)
	}
	for _, c := range contents {
		if c.Source == "" {
			continue
		}
		if _, err := os.Stat(c.Source); err != nil {
			return "", err
		}
	}

	// Copyright: every Go module in the binary must be listed.
	copyright := filepath.Join(debDir, "copyright")
	if err := checkCopyright(o.binary, copyright); err != nil {
		return "", err
	}
	contents = append(contents, &files.Content{Source: copyright, Destination: doc + "/copyright", FileInfo: fi(0o644)})

	tmp, err := os.MkdirTemp("", "mkdeb")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// A native package (the version has no Debian revision): its changelog is
	// changelog.gz (changelog.Debian.gz is for packages of another upstream).
	chlog := filepath.Join(tmp, "changelog.gz")
	if err := writeChangelog(chlog, name, o.version, o.commit, o.maintainer, mt); err != nil {
		return "", err
	}
	contents = append(contents, &files.Content{Source: chlog, Destination: doc + "/changelog.gz", FileInfo: fi(0o644)})

	for _, d := range strings.Split(o.docs, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("guide for %s: %w", name, err)
		}
		contents = append(contents, &files.Content{Source: d, Destination: doc + "/" + filepath.Base(d), FileInfo: fi(0o644)})
	}
	if o.man != "" {
		pages, err := filepath.Glob(filepath.Join(o.man, name+"*.1.gz"))
		if err != nil || len(pages) == 0 {
			return "", fmt.Errorf("no man pages (%s*.1.gz) in %s", name, o.man)
		}
		for _, p := range pages {
			contents = append(contents, &files.Content{Source: p, Destination: "/usr/share/man/man1/" + filepath.Base(p), FileInfo: fi(0o644)})
		}
	}

	info := &nfpm.Info{
		Name:        name,
		Arch:        goarch,
		Platform:    "linux",
		Version:     o.version,
		Section:     section,
		Priority:    "optional",
		Maintainer:  o.maintainer,
		Description: description,
		Vendor:      "edgegw",
		Homepage:    "https://github.com/edgegw/edgegw",
		License:     "Proprietary",
		MTime:       mt,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts:  scripts,
			Deb:      nfpm.Deb{Compression: "gzip"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("prepare: %w", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(o.out, deb.Default.ConventionalFileName(info))
	f, err := os.Create(target)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(target)
		return "", fmt.Errorf("package %s %s: %w", name, o.arch, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return target, nil
}

// checkCopyright fails when the binary holds a Go module (or a replacement)
// that the copyright file has no "Files: vendor/MODULE/*" paragraph for.
func checkCopyright(binary, copyright string) error {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	text, err := os.ReadFile(copyright)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if p, ok := strings.CutPrefix(line, "Files: vendor/"); ok {
			listed[strings.TrimSuffix(p, "/*")] = true
		}
	}
	var missing []string
	for _, d := range bi.Deps {
		if !listed[d.Path] {
			missing = append(missing, d.Path+" "+d.Version)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s holds Go modules that %s does not list (add a Files: vendor/MODULE/* paragraph with its licence): %s",
			binary, copyright, strings.Join(missing, ", "))
	}
	return nil
}

// writeChangelog writes a Debian changelog with one entry for this version,
// gzipped at the best compression without a name or time in the header.
func writeChangelog(path, name, version, commit, maintainer string, t time.Time) error {
	built := "Release " + version + "."
	if commit != "" {
		built = "Release " + version + ", built from commit " + commit + "."
	}
	entry := fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * %s\n  * Release notes: https://github.com/edgegw/edgegw/releases\n\n -- %s  %s\n",
		name, version, built, maintainer, t.Format(time.RFC1123Z))
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write([]byte(entry)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
