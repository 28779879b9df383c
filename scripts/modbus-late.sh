#!/bin/sh
# Wrong values under late replies, run long: TestLibmodbusLateReplies
# (drivers/modbus/libmodbus_late_test.go) collecting READINGS readings
# (default 5000) from four libmodbus slaves on a socat pty, every 15th answer
# 1.5 timeouts late. It prints the readings stored, how many held another
# request's value (must be 0), and the error counters by cause; the exit
# status is the test's. Needs cc, libmodbus-dev and socat.
#
#   scripts/modbus-late.sh [READINGS]
set -eu
readings=${1:-5000}
cd "$(dirname "$0")/.."
EDGEGW_MODBUS_LATE_READINGS=$readings CI=${CI:-true} \
	go test -count=1 -run '^TestLibmodbusLateReplies$' -v -timeout 2h ./drivers/modbus |
	grep -E 'late replies|held another|^(ok|FAIL|---)'
