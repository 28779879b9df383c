#!/bin/sh
# The JetStream central's kill test, too long for the suite: 1,000 gateways
# upload to three edgecentral processes (an R3 cluster), the stream leader's
# process is SIGKILLed at 40% and restarted; every event must be read back
# exactly once. Usage: scripts/central-kill.sh [edgebench central flags]
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOWORK=off go build -o "$tmp/edgebench" ./cmd/edgebench
"$tmp/edgebench" central --gateways 1000 --nodes 3 --kill --json "$@" | tee "$tmp/out.json"
grep -q '"lost":0,' "$tmp/out.json" && grep -q '"duplicates":0,' "$tmp/out.json" || { echo "FAIL: events lost or duplicated" >&2; exit 1; }
echo "ok: nothing lost, nothing duplicated"
