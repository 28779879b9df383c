// Command edgegw is the edge gateway: run it as a service, or use its
// subcommands to set up and check a site.
package main

import (
	"context"
	"os"

	"github.com/edgegw/edgegw/internal/cli"
)

var app = &cli.App{Name: "edgegw", Summary: "offline-first edge gateway for residential compounds"}

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], nil))
}
