// Command edgecentral is the reference central receiver for edgegw gateways.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgegw/edgegw/internal/cli"
)

var app = &cli.App{Name: "edgecentral", Summary: "reference central receiver for edgegw gateways",
	Groups: map[string]string{
		"gateways":    "the gateways this central accepts, and their state",
		"config":      "push a config to a gateway",
		"diagnostics": "ask a gateway for a support bundle, list and fetch them",
		"release":     "release keys, signing, and rollouts of signed edgegw releases to gateways",
	}}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], nil)
	stop()
	os.Exit(code)
}
