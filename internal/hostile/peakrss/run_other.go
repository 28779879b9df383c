//go:build !linux

package main

import (
	"fmt"
	"os"
)

func run([]string, string) int {
	fmt.Fprintln(os.Stderr, "peakrss: Linux only")
	return 1
}
