// Command mkdeb builds the edgegw .deb for one architecture with nfpm: the
// binary, the systemd unit (packaging/systemd/edgegw.service, which the
// product's test TestPackagedUnitUpToDate in edge/service keeps equal to
// what `edgegw service install` writes), the default config as a conffile,
// the data directory, a udev rule for GPIO access and the maintainer
// scripts.
//
// It lives in the packaging module (packaging/go.mod), so that nfpm and
// its dependencies stay out of the gateway's module; it imports nothing of
// the gateway. From the repository root:
//
//	go -C packaging build -o ../dist/.tools/mkdeb ./cmd/mkdeb
//	dist/.tools/mkdeb --arch amd64 --version 1.2.3 \
//	    --binary dist/edgegw-linux-amd64 --config dist/edgegw.yaml --out dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// debArch maps our names to nfpm's (GOARCH-style) names; nfpm writes the
// Debian name into the package.
var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64", "armhf": "arm7"}

func main() {
	var (
		arch    = flag.String("arch", "amd64", "Debian architecture: amd64, arm64 or armhf")
		version = flag.String("version", "0.0.0", "package version")
		binary  = flag.String("binary", "", "the edgegw binary for this architecture")
		config  = flag.String("config", "", "the default config file (edgegw init output)")
		pkgdir  = flag.String("packaging", "packaging", "the packaging/ directory (maintainer scripts, udev rule, systemd unit)")
		docs    = flag.String("docs", "docs/install.md", "the installer's guide, shipped in /usr/share/doc/edgegw")
		man     = flag.String("man", "", "directory of gzipped man pages (edgegw gen-man), shipped in /usr/share/man/man1")
		out     = flag.String("out", "dist", "output directory")
	)
	flag.Parse()
	if err := build(*arch, *version, *binary, *config, *pkgdir, *docs, *man, *out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkdeb:", err)
	os.Exit(1)
}

func build(arch, version, binary, config, pkgdir, docs, man, out string) error {
	goarch, ok := debArch[arch]
	if !ok {
		return fmt.Errorf("unknown arch %q (want amd64, arm64 or armhf)", arch)
	}
	unitFile := filepath.Join(pkgdir, "systemd", "edgegw.service")
	for _, f := range []string{binary, config, unitFile} {
		if f == "" {
			return fmt.Errorf("--binary and --config are required")
		}
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	// Reproducible: every file gets the same mtime (SOURCE_DATE_EPOCH when set).
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root", MTime: mtime}
	}
	contents := files.Contents{
		{Source: binary, Destination: "/usr/bin/edgegw", FileInfo: fi(0o755)},
		{Source: unitFile, Destination: "/lib/systemd/system/edgegw.service", FileInfo: fi(0o644)},
		{Source: config, Destination: "/etc/edgegw/edgegw.yaml", Type: files.TypeConfigNoReplace, FileInfo: fi(0o640)},
		{Source: filepath.Join(pkgdir, "deb", "60-edgegw-gpio.rules"), Destination: "/lib/udev/rules.d/60-edgegw-gpio.rules", FileInfo: fi(0o644)},
		{Destination: "/var/lib/edgegw", Type: files.TypeDir, FileInfo: fi(0o750)},
		{Destination: "/etc/edgegw", Type: files.TypeDir, FileInfo: fi(0o755)},
	}
	if _, err := os.Stat(docs); err == nil {
		contents = append(contents, &files.Content{Source: docs, Destination: "/usr/share/doc/edgegw/install.md", FileInfo: fi(0o644)})
	}
	if man != "" {
		pages, err := filepath.Glob(filepath.Join(man, "*.1.gz"))
		if err != nil || len(pages) == 0 {
			return fmt.Errorf("no man pages (*.1.gz) in %s", man)
		}
		for _, p := range pages {
			contents = append(contents, &files.Content{Source: p, Destination: "/usr/share/man/man1/" + filepath.Base(p), FileInfo: fi(0o644)})
		}
	}
	// Fleet monitoring: a Grafana dashboard and Prometheus alert rules.
	for _, f := range [][2]string{
		{filepath.Join(pkgdir, "grafana", "edgegw-fleet.json"), "/usr/share/edgegw/monitoring/edgegw-fleet.json"},
		{filepath.Join(pkgdir, "grafana", "README.md"), "/usr/share/edgegw/monitoring/README.md"},
		{filepath.Join(pkgdir, "prometheus", "edgegw.rules.yml"), "/usr/share/edgegw/monitoring/edgegw.rules.yml"},
	} {
		if _, err := os.Stat(f[0]); err == nil {
			contents = append(contents, &files.Content{Source: f[0], Destination: f[1], FileInfo: fi(0o644)})
		}
	}
	script := func(name string) string { return filepath.Join(pkgdir, "deb", name) }
	info := &nfpm.Info{
		Name:        "edgegw",
		Arch:        goarch,
		Platform:    "linux",
		Version:     version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "edgegw maintainers <edgegw@localhost>",
		Description: "offline-first edge gateway for residential compounds\n reads serial and GPIO devices, stores every event durably, runs alarm\n rules locally and syncs with the central platform when it can.",
		Vendor:      "edgegw",
		Homepage:    "https://github.com/edgegw/edgegw",
		License:     "Proprietary",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts: nfpm.Scripts{
				PreInstall:  script("preinst"),
				PostInstall: script("postinst"),
				PreRemove:   script("prerm"),
				PostRemove:  script("postrm"),
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	target := filepath.Join(out, deb.Default.ConventionalFileName(info))
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(target)
		return fmt.Errorf("package %s: %w", arch, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println(strings.TrimPrefix(target, "./"))
	return nil
}
