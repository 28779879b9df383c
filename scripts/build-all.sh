#!/usr/bin/env bash
# Builds every artifact into dist/ (or $DIST):
#   edgegw-linux-amd64, edgegw-linux-arm64, edgegw-linux-armv7, edgegw-windows-amd64.exe
#     (CGO_ENABLED=0, stamped with version, commit and date via -ldflags -X)
#   edgegw.yaml                              the default config (edgegw init), validated
#   edgecentral-linux-amd64, edgecentral-linux-arm64    (the central platform)
#   edgegw_<ver>_amd64.deb, _arm64.deb, _armhf.deb   (packaging/cmd/mkdeb, nfpm)
#   edgecentral_<ver>_amd64.deb, _arm64.deb
#   edgegw_<ver>_windows_amd64.zip           edgegw.exe, the Windows example config,
#                                            install.ps1, uninstall.ps1, install.md
# Environment: VERSION (default 0.1.0), DIST (default dist), SOURCE_DATE_EPOCH.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The gateway is built with the versions its own go.mod selects, not the
# development workspace's (go.work); the packaging tools are their own
# module (packaging/go.mod).
export GOWORK=off

VERSION="${VERSION:-0.1.0}"
DIST="${DIST:-dist}"
COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	DATE="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
else
	DATE="$(git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
export TZ=UTC

pkg=github.com/edgegw/edgegw/internal/version
LDFLAGS="-s -w -X $pkg.Version=$VERSION -X $pkg.Commit=$COMMIT -X $pkg.Date=$DATE"

rm -rf "$DIST"
mkdir -p "$DIST/.tools"

build() { # os arch goarm out [command]
	echo "build-all: $1/$2${3:+ GOARM=$3} -> $DIST/$4"
	CGO_ENABLED=0 GOOS=$1 GOARCH=$2 GOARM=$3 go build -ldflags "$LDFLAGS" -o "$DIST/$4" "./cmd/${5:-edgegw}"
}
build linux amd64 "" edgegw-linux-amd64
build linux arm64 "" edgegw-linux-arm64
build linux arm 7 edgegw-linux-armv7
build windows amd64 "" edgegw-windows-amd64.exe
build linux amd64 "" edgecentral-linux-amd64 edgecentral
build linux arm64 "" edgecentral-linux-arm64 edgecentral

# Tools and the default config run on the build machine.
tools="$(cd "$DIST/.tools" && pwd)"
go build -o "$tools/edgegw" ./cmd/edgegw
go build -o "$tools/edgecentral" ./cmd/edgecentral
go -C packaging build -o "$tools/mkdeb" ./cmd/mkdeb
go -C packaging build -o "$tools/mkzip" ./cmd/mkzip
"$DIST/.tools/edgegw" init >"$DIST/edgegw.yaml"
"$DIST/.tools/edgegw" validate "$DIST/edgegw.yaml" >/dev/null
# The Windows example: COM ports and %ProgramData% paths.
"$DIST/.tools/edgegw" init --windows >"$DIST/edgegw.windows.yaml"
"$DIST/.tools/edgegw" validate "$DIST/edgegw.windows.yaml" >/dev/null
# Man pages, gzipped as Debian wants them.
"$DIST/.tools/edgegw" gen-man --dir "$DIST/man"
"$DIST/.tools/edgecentral" gen-man --dir "$DIST/man"
gzip -9n "$DIST"/man/*.1

# The unit in the package is packaging/systemd/edgegw.service; the gateway's
# test TestPackagedUnitUpToDate (edge/service, run by test.sh) keeps it the
# one `edgegw service install` writes.

for a in amd64:edgegw-linux-amd64 arm64:edgegw-linux-arm64 armhf:edgegw-linux-armv7; do
	arch=${a%%:*} bin=${a#*:}
	"$DIST/.tools/mkdeb" --arch "$arch" --version "$VERSION" --commit "$COMMIT" --binary "$DIST/$bin" \
		--config "$DIST/edgegw.yaml" --man "$DIST/man" --out "$DIST"
done
for arch in amd64 arm64; do
	"$DIST/.tools/mkdeb" --package edgecentral --arch "$arch" --version "$VERSION" --commit "$COMMIT" \
		--binary "$DIST/edgecentral-linux-$arch" --docs docs/install.md,docs/central.md --man "$DIST/man" --out "$DIST"
done

"$DIST/.tools/mkzip" -o "$DIST/edgegw_${VERSION}_windows_amd64.zip" \
	edgegw/edgegw.exe="$DIST/edgegw-windows-amd64.exe" \
	edgegw/edgegw.example.yaml="$DIST/edgegw.windows.yaml" \
	edgegw/install.ps1=packaging/windows/install.ps1 \
	edgegw/uninstall.ps1=packaging/windows/uninstall.ps1 \
	edgegw/install.md=docs/install.md
echo "build-all: $DIST/edgegw_${VERSION}_windows_amd64.zip"

rm -rf "$DIST/.tools"
echo "build-all: ok ($VERSION, commit $COMMIT, built $DATE)"
ls -l "$DIST"
