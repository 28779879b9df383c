package main

import "github.com/edgegw/edgegw/internal/cli"

func init() { app.Register(cli.ManCommand(app)) }
