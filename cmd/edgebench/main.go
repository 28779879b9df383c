// Command edgebench runs the project's benchmarks and prints one JSON object
// per run: `edgebench store --events 1000000 --json`.
package main

import (
	"context"
	"os"

	"github.com/edgegw/edgegw/internal/cli"
)

var app = &cli.App{Name: "edgebench", Summary: "edgegw benchmarks (store, rules, sync, modbus)"}

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], nil))
}
