// Command peakrss runs a command and writes its wall time and peak RSS to
// the file named by $PEAKRSS_OUT ("wall_ms=123 peak_rss_kib=4567"), then
// exits with the command's exit code. It is small on purpose: Linux counts
// in a child's peak RSS the RSS of the process that started it (exec keeps
// the mark), so a test process (a race-detector build holds hundreds of
// MiB) must not start the measured command itself.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: PEAKRSS_OUT=FILE peakrss COMMAND [ARG...]")
		os.Exit(64)
	}
	os.Exit(run(os.Args[1:], os.Getenv("PEAKRSS_OUT")))
}
