package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/edgegw/edgegw/edge"
)

func run(args []string, out string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	clk := edge.SystemClock{}
	start := clk.Now()
	err := cmd.Run()
	wall := clk.Now().Sub(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if code < 0 {
			code = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
		}
	case err != nil:
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		return 127
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = int64(ru.Maxrss) // KiB on Linux (int32 on 32-bit ARM)
	}
	if out != "" {
		line := fmt.Sprintf("wall_ms=%d peak_rss_kib=%d\n", wall.Milliseconds(), rss)
		if err := os.WriteFile(out, []byte(line), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "peakrss:", err)
		}
	}
	return code
}
