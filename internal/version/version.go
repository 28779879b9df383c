// Package version holds the build's version, commit and date, stamped at
// build time with -ldflags "-X github.com/edgegw/edgegw/internal/version.Version=1.2.3 ...".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped by scripts/build-all.sh; "dev" / "unknown" for a plain go build.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is the version of this binary, as shown by `edgegw version`, the
// status page and the support bundle.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Get returns the stamped version. For an unstamped build it takes the commit
// from the Go build info when the toolchain recorded one.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if i.Commit == "unknown" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					i.Commit = s.Value
				case "vcs.time":
					if i.Date == "unknown" {
						i.Date = s.Value
					}
				}
			}
		}
	}
	return i
}

// String is one line: "edgegw 1.2.3 (commit abc1234, built 2026-11-29T06:00:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("edgegw %s (commit %s, built %s, %s %s/%s)", i.Version, i.Commit, i.Date, i.Go, i.OS, i.Arch)
}

// GOARM is the ARM version this binary was built for ("7"), from the
// build settings the toolchain records; "" on other architectures. A
// build that recorded none is taken as 7, Go's default when cross-building.
func GOARM() string {
	if runtime.GOARCH != "arm" {
		return ""
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				v, _, _ := strings.Cut(s.Value, ",") // "7,softfloat"
				return v
			}
		}
	}
	return "7"
}
