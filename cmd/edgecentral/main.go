// Command edgecentral is the reference central receiver for edgegw gateways.
package main

import (
	"context"
	"os"

	"github.com/edgegw/edgegw/internal/cli"
)

var app = &cli.App{Name: "edgecentral", Summary: "reference central receiver for edgegw gateways"}

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], nil))
}
