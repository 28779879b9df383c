#!/usr/bin/env bash
# Runs the event store's tests as 32-bit ARM (GOARCH=arm GOARM=7) under
# qemu-arm-static (Debian package qemu-user-static), because many compound
# boxes are 32-bit ARM and Badger has 32-bit pitfalls: ristretto's z.Allocator
# (Badger's table builder memory) reused live memory on 32-bit and corrupted
# flushed and compacted tables; go.mod replaces ristretto with the patched
# copy in third_party/ristretto (see its PATCHED.md), and TestAllocatorReuse,
# TestCompaction and TestCrashSIGKILL here guard it.
#
# Usage: scripts/test-store-armv7.sh [extra go test flags, e.g. -test.run=Cap]
# Exit code: non-zero when the build or any test fails, or qemu is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

QEMU=${QEMU:-qemu-arm-static}
if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "FAIL: $QEMU not found (apt-get install -y qemu-user-static)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin="$work/store.test.armv7"

echo "# building edge/store tests for linux/arm GOARM=7"
CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go test -c -o "$bin" ./edge/store/
file "$bin" 2>/dev/null || true

# The crash test re-executes the test binary; the child runs under qemu too.
# Without binfmt_misc the kernel cannot exec an ARM binary directly, so the
# test is told which emulator to put in front of it.
export EDGE_STORE_TEST_EXEC_WRAPPER="$QEMU"
export TMPDIR="$work"

echo "# running under $QEMU (-test.short), every test, gating"
set +e
"$QEMU" "$bin" -test.short -test.v -test.timeout=10m "$@" 2>&1 | tee "$work/out.txt" |
	grep -v '^=== \(RUN\|PAUSE\|CONT\)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
	echo "FAIL	github.com/edgegw/edgegw/edge/store (linux/arm GOARM=7 under qemu) exit $rc"
	exit "$rc"
fi
echo "ok	github.com/edgegw/edgegw/edge/store (linux/arm GOARM=7 under qemu)"
