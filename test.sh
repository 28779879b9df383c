#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run calls exactly this).
#   ./test.sh          everything
#   ./test.sh quick    go vet + go test -race only (no cross-builds, qemu, packages)
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
# go.work joins the gateway and its release tooling (packaging/, its own
# module) for development. CI checks each module on its own, with the
# versions its go.mod selects: the gateway must not build against versions
# the packaging module pulls in.
export GOWORK=off

step() { printf '\n== %s\n' "$*"; }

step "setup (apt/npm packages the tests need)"
./scripts/setup.sh

step "go mod tidy leaves no diff (the gateway, then packaging/)"
go mod tidy -diff
go -C packaging mod tidy -diff

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/browser/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...
go -C packaging vet ./...

if [ "${1:-}" != quick ]; then
	step "cross-builds (CGO_ENABLED=0)"
	for target in linux/amd64 linux/arm64 linux/arm/7 windows/amd64; do
		IFS=/ read -r os arch arm <<<"$target"
		echo "build $target"
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=${arm:-} go build -o /dev/null ./...
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=${arm:-} go vet ./... 
	done
fi

step "go test -race"
go test -race -count=1 -timeout 25m ./...

step "the 32-bit allocator fix of the ristretto fork, natively (GOARCH=386; see third_party/ristretto/PATCHED.md)"
# A kernel without 32-bit x86 support (no IA32 emulation) cannot exec the
# 386 test binary, and Go's 386 runtime does not start under
# qemu-i386-static: there the same 32-bit test runs as linux/arm GOARM=7
# under qemu-arm-static (scripts/setup.sh installs qemu-user-static), as the
# store tests below do.
probe386=$(mktemp -d)
CGO_ENABLED=0 GOARCH=386 go test -c -o "$probe386/z.test" github.com/dgraph-io/ristretto/v2/z
if "$probe386/z.test" -test.run='^$' >/dev/null 2>&1; then
	CGO_ENABLED=0 GOARCH=386 go test -count=1 -run 'TestAllocator' github.com/dgraph-io/ristretto/v2/z
else
	echo "this kernel runs no 32-bit x86 binaries: the 32-bit test runs as linux/arm/7 under qemu-arm-static"
	CGO_ENABLED=0 GOARCH=arm GOARM=7 go test -exec qemu-arm-static -count=1 -run 'TestAllocator' github.com/dgraph-io/ristretto/v2/z
fi
rm -rf "$probe386"

step "the ristretto fork's mapped-file patches (allocated files, page release under its lock), under -race"
go test -race -count=1 -run 'TestReleaseMapped|TestMappedFile|TestNoSpace' github.com/dgraph-io/ristretto/v2/z

if [ "${1:-}" != quick ]; then
	if [ -x scripts/test-store-armv7.sh ]; then
		step "store tests on linux/arm GOARM=7 under qemu-arm-static"
		./scripts/test-store-armv7.sh
	fi
	if [ -x scripts/build-all.sh ]; then
		step "build every artifact"
		./scripts/build-all.sh
	fi
	if [ -x scripts/check-artifacts.sh ]; then
		step "check artifacts (.deb contents and install, Windows PE)"
		./scripts/check-artifacts.sh
	fi
fi
step "all tests passed"
