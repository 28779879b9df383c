#!/usr/bin/env bash
# Measures how `edgegw validate` and `edgegw run` answer each hostile config
# file of internal/hostile (tens of thousands of devices, 50 MB of text or
# binary, an alias bomb, deep nesting, a wide mapping, ...): the exit code,
# the wall time and the peak RSS of each run, RUNS times (default 5). It is
# TestHostileConfigs of cmd/edgegw with more runs; the bounds it asserts are
# 10 s and 256 MiB per run, at most 50 lines of output, no raw byte echoed.
# The figures go to docs/hardening.md, section 6.
#
# Usage: scripts/hostile-configs.sh [RUNS]
# Exit code: non-zero when a run misses a bound (or the build fails).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# shape / command / file size / exit / wall / peak RSS, $runs runs each"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -count=1 -run 'TestHostileConfigs$' -v ./cmd/edgegw -args -hostile.runs="$runs" >"$log" 2>&1 || status=$?
# One row per shape and command: the worst run of each.
echo "| file | size | command | exit | time (worst of $runs) | peak RSS (worst of $runs) |"
echo "| --- | ---: | --- | ---: | ---: | ---: |"
awk '/^=== RUN   TestHostileConfigs\// { sub(".*/", "", $3); shape = $3 }
     /hostile_linux_test.go:[0-9]+: (validate|run) / {
	sub(/.*hostile_linux_test.go:[0-9]+: /, ""); gsub(/s,$/, "", $7)
	k = shape " " $1
	if (!(k in size)) { order[++n] = k }
	size[k] = $2; code[k] = $5
	if ($7 + 0 > wall[k]) wall[k] = $7 + 0
	if ($10 + 0 > rss[k]) rss[k] = $10 + 0
     }
     END { for (i = 1; i <= n; i++) { k = order[i]; split(k, p, " ")
	printf "| %s | %s MB | %s | %s | %.2f s | %.0f MiB |\n", p[1], size[k], p[2], code[k], wall[k], rss[k] } }' "$log"
grep -E '^\s*(--- FAIL|FAIL|ok)|want' "$log" || true
exit "$status"
